/**
 * Real nodes: every server the Hetzner simulator creates boots as a Debian 12 machine (a systemd-nspawn container
 * on the root fs test/fixtures/real-nodes/rootfs.sh builds), with real systemd and real cloud-init running the user
 * data the CLI sent as its NoCloud seed, and the server's Primary IPs on its interface. The bootstrap script runs
 * for real: apt installs ufw from a local repository, ufw closes the node, nats-server comes from a release archive,
 * the units start. The simulator's cloud firewall is enforced on the bridge (cloud-firewall.ts). Through the built
 * CLI: plant, grow with each registry backend, status, a reboot, strangers, Ctrl-C, teardown, embedded mode.
 *
 * As on Hetzner, the machines run openssh-server and let root in with the project's SSH keys (the run's own key,
 * config.ts sshKey), and a node's NATS client port listens on 127.0.0.1 inside it: the tests' NATS clients reach it
 * through forwarders into each machine's network namespace (clients.ts), and write to the forest all the time while
 * it changes (test/helpers/acked-writer.ts: no acked message may be lost).
 *
 * What is not real: the Hetzner API (the simulator), and the Storage Box's CIFS mount: this kernel has no CIFS, so a
 * node of a Storage Box registry gets the WebDAV server's folder bind-mounted read-only at /mnt/forest instead (the
 * same file the CLI writes over WebDAV, as the CIFS mount would show it).
 *
 * Needs root, systemd-nspawn, nsenter, nft, ssh (openssh-client) and the root fs: run `test/fixtures/real-nodes/rootfs.sh` once, then
 * `MORPHEUS_REAL_NODES=1 NODE_OPTIONS=--experimental-vm-modules npx jest test/e2e/real-nodes.test.ts`.
 * Without MORPHEUS_REAL_NODES=1 the file is skipped (CI sets it; .ci/run builds the root fs first).
 */
import {execFile, execFileSync, spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

import {jetstreamManager} from '@nats-io/jetstream'

import type {HetznerConfigOptions} from '../fixtures/hetzner-sim/config.js'
import {HetznerSim} from '../fixtures/hetzner-sim/server.js'
import {NspawnBooter, type BootRequest} from '../fixtures/real-nodes/booter.js'
import {CloudFirewall} from '../fixtures/real-nodes/cloud-firewall.js'
import {NodeClients} from '../fixtures/real-nodes/clients.js'
import {realNodesConfig, sshKey, type SshKey} from '../fixtures/real-nodes/config.js'
import {createNetwork, destroyNetwork, NET, startFileServer} from '../fixtures/real-nodes/network.js'
import {buildSite, integrationFor, natsServerBinary, type Site} from '../fixtures/real-nodes/site.js'
import {startApache, type ApacheServer} from '../fixtures/webdav/apache.js'
import {FakeS3} from '../../plugins/registry-s3/test/fixtures/fake-s3.js'
import {AckedWriter, connectClient} from '../helpers/acked-writer.js'
import {ROOT, Sandbox, waitFor} from '../helpers/cli.js'

const execFileP = promisify(execFile)

const ENABLED = process.env.MORPHEUS_REAL_NODES === '1'
const CACHE = process.env.MORPHEUS_REAL_NODES_CACHE || '/var/cache/morpheus-test'
const TOKEN = 'real-nodes-token-6bc1bee22e409f96e93d7e117393172a'
/** The live-forest operations print their progress, timed, on stderr (a failure's message shows where it stood). */
const DEBUG = {MORPHEUS_DEBUG: '1'}
/**
 * cloud-init modules that fail on the minimal image for reasons of the image alone: `locale` (debootstrap's
 * minbase has no en_US.UTF-8 locale for update-locale to set; Hetzner's images have one). Nothing else.
 */
const IMAGE_FAILURES = ['locale']

function prerequisites(): string[] {
  const missing: string[] = []
  if (process.getuid?.() !== 0) missing.push('root')
  for (const tool of ['systemd-nspawn', 'nsenter', 'nft', 'ip', 'nats-server', 'ssh', 'ssh-keygen', 'ssh-keyscan']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) missing.push(tool)
  }
  if (!existsSync(join(CACHE, 'done'))) missing.push(`the root fs in ${CACHE} (run test/fixtures/real-nodes/rootfs.sh)`)
  return missing
}

/** The config of the runs here: a forest grows several times in a row, so no wait between expansions. */
function hetznerConfig(integration: Record<string, string | boolean>, key: SshKey, options: HetznerConfigOptions = {}): string {
  return realNodesConfig(integration, key, {growth: {cooldown_minutes: 0}, ...options})
}

/** ssh as root to a node, the way Morpheus does on Hetzner (batch mode, one identity); never throws. */
async function ssh(
  identity: string,
  address: string,
  command: string[],
  timeoutMs = 30_000,
): Promise<{code: number | string; stdout: string; stderr: string}> {
  try {
    const {stderr, stdout} = await execFileP('ssh', [...sshOptions(identity), `root@${address}`, ...command], {
      encoding: 'utf8',
      timeout: timeoutMs,
    })
    return {code: 0, stderr, stdout}
  } catch (error) {
    const e = error as {code?: number | string; stdout?: string; stderr?: string}
    return {code: e.code ?? -1, stderr: e.stderr ?? String(error), stdout: e.stdout ?? ''}
  }
}

function sshOptions(identity: string): string[] {
  return [
    '-i',
    identity,
    '-F',
    'none',
    ...[
      'BatchMode=yes',
      'StrictHostKeyChecking=no',
      'UserKnownHostsFile=/dev/null',
      'IdentitiesOnly=yes',
      'ConnectTimeout=10',
      'LogLevel=ERROR',
    ].flatMap((o) => ['-o', o]),
  ]
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as {port: number}).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function varz(monitor: string): Promise<any> {
  const r = await fetch(`${monitor}/varz`, {signal: AbortSignal.timeout(3000)})
  return r.json()
}

async function routez(monitor: string): Promise<any> {
  const r = await fetch(`${monitor}/routez`, {signal: AbortSignal.timeout(3000)})
  return r.json()
}

/** Until every node reports `routes` routes (or the time is up). */
async function waitRoutes(monitors: string[], routes: number, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    async () => {
      try {
        return (await Promise.all(monitors.map(varz))).every((v) => v.routes === routes)
      } catch {
        return false
      }
    },
    timeoutMs,
    1000,
  )
}

;(ENABLED ? describe : describe.skip)('real nodes: the user data boots Debian 12 machines that form, grow and keep strangers out', () => {
  let work: string
  let booter: NspawnBooter
  let sim: HetznerSim
  let firewall: CloudFirewall
  let files: {url4: string; url6: string; stop: () => Promise<void>}
  let sb: Sandbox
  let integration: Record<string, string | boolean>
  let site: Site
  let apache: ApacheServer | undefined
  let s3: FakeS3 | undefined
  let forestId = ''
  /** The run's SSH key (the project's key on the nodes), and a key the nodes never saw. */
  let key: SshKey
  let strangerKey: SshKey
  let clients: NodeClients
  let writer: AckedWriter | undefined
  const t0 = Date.now()
  const timings: Record<string, number> = {}

  /** The Storage Box stand-in: the WebDAV folder holding the registry, when the node's user data mounts one. */
  let storageBoxFolder: string | undefined

  beforeAll(async () => {
    const missing = prerequisites()
    if (missing.length > 0) throw new Error(`the real-node tests need: ${missing.join(', ')}`)
    work = mkdtempSync(join(tmpdir(), 'morpheus-real-nodes-'))
    key = sshKey(work)
    strangerKey = sshKey(work, 'id_stranger')
    createNetwork()
    site = buildSite(join(work, 'site'), join(CACHE, 'debs'))
    files = await startFileServer(site.root)
    integration = integrationFor(site, files.url4)
    booter = new NspawnBooter({
      aptUrl: (r: BootRequest) => `${r.ipv4 ? files.url4 : files.url6}/debs`,
      binds: (r: BootRequest) => [
        // The NimsForest stand-in is a Node.js script running nats-server in embedded mode: its interpreter and
        // that binary come from this machine (a real NimsForest is one static binary with NATS inside).
        {container: '/usr/local/bin/node', host: process.execPath, readOnly: true},
        ...(r.userData.includes('"nats_mode": "embedded"')
          ? [{container: '/usr/local/bin/nats-server', host: natsServerBinary(), readOnly: true}]
          : []),
        // No CIFS in this kernel: the Storage Box registry's folder, read-only, where the mount unit would put it.
        ...(r.userData.includes('mnt-forest.mount') && storageBoxFolder
          ? [{container: '/mnt/forest', host: storageBoxFolder, readOnly: true}]
          : []),
      ],
      dir: join(work, 'machines'),
      rootfs: join(CACHE, 'rootfs'),
    })
    sim = new HetznerSim({booter, bootMs: 1000, ipv4Net: '192.0.2', ipv4Pool: NET.pool, tokens: {ro: [], rw: [TOKEN]}})
    await sim.start()
    firewall = new CloudFirewall(sim)
    firewall.start()
    clients = new NodeClients(booter, {dir: join(work, 'clients')})
    sb = new Sandbox(hetznerConfig(integration, key), {HCLOUD_ENDPOINT: sim.url, HCLOUD_TOKEN: TOKEN})
  }, 120_000)

  afterAll(async () => {
    await writer?.close()
    await live?.cleanup()
    await clients?.close()
    await booter?.stopAll()
    firewall?.stop()
    await sim?.stop()
    await files?.stop()
    apache?.stop()
    await s3?.stop()
    destroyNetwork()
    await sb?.cleanup()
    if (work) rmSync(work, {force: true, recursive: true})
    if (Object.keys(timings).length > 0)
      process.stderr.write(`real-node timings (s): ${JSON.stringify(timings)}, whole file ${Math.round((Date.now() - t0) / 1000)}\n`)
  }, 180_000)

  afterEach(() => {
    expect(sim.violations).toEqual([])
    expect(booter.errors).toEqual([])
  })

  /** `cloud-init status` on a machine: done, with no module failing (but those the minimal image makes fail). */
  async function cloudInitDone(name: string): Promise<void> {
    // cloud-init writes result.json when its last stage ends (`status --wait` stops at the first error).
    try {
      await waitFor(async () => (await booter.exec(name, ['test', '-e', '/run/cloud-init/result.json'])).code === 0, 300_000, 1000)
    } catch (error) {
      throw new Error(`${name}: cloud-init did not finish: ${(error as Error).message}\n${await booter.diagnose(name)}`, {cause: error})
    }
    const status = await booter.exec(name, ['cloud-init', 'status', '--wait'], 300_000)
    const result = await booter.exec(name, ['cat', '/run/cloud-init/result.json'])
    const errors: string[] = JSON.parse(result.stdout || '{"v1": {"errors": ["no result.json"]}}').v1.errors
    const unexpected = errors.filter((e) => !IMAGE_FAILURES.some((m) => e.includes(`'${m}'`) || e.includes(`"${m}"`)))
    // "error" only because of a module the image alone makes fail is "done" for what Morpheus wrote.
    const state = status.stdout.trim()
    const done = state === 'status: done' || (state === 'status: error' && errors.length > 0 && unexpected.length === 0)
    if (!done || unexpected.length > 0) {
      const log = await booter.exec(name, ['tail', '-n', '60', '/var/log/cloud-init-output.log'])
      throw new Error(
        `${name}: cloud-init ${status.stdout.trim()} (exit ${status.code}), errors ${JSON.stringify(unexpected)}\n${log.stdout}\n${await booter.diagnose(name)}`,
      )
    }
  }

  test('plant 3 in system mode: three Debian machines run the user data and the forest forms', async () => {
    const started = Date.now()
    const r = await sb.runJson(['plant', 'cloud', '--nodes', '3', '--yes'], {timeoutMs: 600_000})
    timings.plant3 = Math.round((Date.now() - started) / 1000)
    if (r.code !== 0) throw new Error(`plant failed: ${r.stdout}\n${r.stderr}\n${booter.failureReport()}`)
    forestId = r.out.forest.id
    expect(r.out.nodes).toHaveLength(3)
    for (const n of r.out.nodes) {
      expect(n.ipv4).toMatch(/^192\.0\.2\.\d+$/)
      expect(n.ipv6).toMatch(/^2001:db8:50:[0-9a-f]+::1$/)
      const v = await varz(n.monitor)
      expect(v.routes).toBe(2)
      expect(v.cluster.name).toBe(forestId)
      expect(v.server_name).toBe(n.id)
    }
    expect(booter.machines.size).toBe(3)
    for (const m of booter.machines.values()) await cloudInitDone(m.request.name)
    // ufw really is on, and the route port is open to any address (routes need the forest's credentials).
    const name = [...booter.machines.values()][0].request.name
    const ufw = await booter.exec(name, ['ufw', 'status'])
    expect(ufw.stdout).toContain('Status: active')
    expect(ufw.stdout).toMatch(/6222\/tcp\s+ALLOW\s+Anywhere/)
    expect(ufw.stdout).not.toMatch(/^4222/m)
  }, 700_000)

  /** The simulator's server of a node of the forest (its name is the machine's name). */
  const server = (nodeId: string) => [...sim.servers.values()].find((x) => x.labels.forest === forestId && x.labels.node === nodeId)!

  test("SSH as on Hetzner: root logs in with the project's key on each node's IPv4 and IPv6, a stranger's key is refused, each machine has host keys of its own, and a port forward reaches the client port", async () => {
    const publicKey = readFileSync(key.publicKeyPath, 'utf8').trim()
    // The provider uploaded the run's key (POST /ssh_keys) and the servers carry it, by name and in the user data.
    expect([...sim.sshKeys.values()].map((k) => k.public_key)).toEqual([publicKey])
    // The image has no host key of its own to share: cloud-init made each machine's on its first boot.
    expect(readdirSync(join(CACHE, 'rootfs', 'etc', 'ssh')).filter((f) => f.startsWith('ssh_host_'))).toEqual([])
    const nodes: any[] = sb.registry().nodes[forestId]
    expect(nodes).toHaveLength(3)
    const hostKeys = new Set<string>()
    for (const n of nodes) {
      expect(server(n.id).userData).toContain(publicKey)
      for (const address of [n.ipv4, n.ipv6]) {
        const r = await ssh(key.identityFile, address, ['id -u; hostname; cat /etc/ssh/ssh_host_ed25519_key.pub'])
        expect(r).toMatchObject({code: 0})
        const [uid, hostname, hostKey] = r.stdout.trim().split('\n')
        expect([uid, hostname]).toEqual(['0', server(n.id).name])
        // The key the machine's sshd shows is the one in its /etc/ssh.
        const scanned = await execFileP('ssh-keyscan', ['-t', 'ed25519', '-T', '10', address], {encoding: 'utf8'})
        expect(scanned.stdout).toContain(hostKey.split(' ')[1])
        hostKeys.add(hostKey.split(' ')[1])
      }
      const refused = await ssh(strangerKey.identityFile, n.ipv6, ['true'])
      expect(refused.code).toBe(255)
      expect(refused.stderr).toMatch(/Permission denied \(publickey/)
    }
    expect(hostKeys.size).toBe(nodes.length)
    // `ssh -N -L` (how Morpheus reaches a node's client port on Hetzner): the official NATS client through it.
    const port = await freePort()
    const tunnel = spawn(
      'ssh',
      [...sshOptions(key.identityFile), '-N', '-L', `127.0.0.1:${port}:127.0.0.1:4222`, `root@${nodes[0].ipv4}`],
      {
        stdio: 'ignore',
      },
    )
    try {
      let nc: Awaited<ReturnType<typeof connectClient>> | undefined
      await waitFor(
        async () => {
          try {
            nc = await connectClient([`nats://127.0.0.1:${port}`], {ignoreClusterUpdates: true})
            return true
          } catch {
            return false
          }
        },
        30_000,
        500,
      )
      expect(nc!.info?.server_name).toBe(nodes[0].id)
      await nc!.close()
    } finally {
      tunnel.kill()
    }
  }, 300_000)

  async function grownNodeJoins(nodeId: string, size: number): Promise<void> {
    const started = Date.now()
    const r = await sb.runJson(['grow', forestId, '--auto', '--threshold', '0'], {timeoutMs: 600_000})
    timings[`grow-${nodeId}`] = Math.round((Date.now() - started) / 1000)
    if (r.code !== 0) throw new Error(`grow failed: ${r.stdout}\n${r.stderr}`)
    expect(r.out.action).toMatchObject({count: 1, node_ids: [nodeId], nodes_after: size})
    // Every node, old and new, has a route to each other one: the old nodes' host firewalls let the new one in.
    const status = await sb.json(['status', forestId])
    expect(status.health).toBe('healthy')
    expect(status.nodes.map((n: any) => n.id)).toContain(nodeId)
    expect(status.nodes).toHaveLength(size)
    expect(status.nodes.every((n: any) => n.health.healthy && n.health.routes === size - 1)).toBe(true)
    await cloudInitDone(server(nodeId).name)
  }

  test('grow adds node-4 (registry none) while the official NATS client writes to an R3 and an R1 stream through the forwarders: it joins, status is healthy, no acked message is lost', async () => {
    const names = sb.registry().nodes[forestId].map((n: any) => server(n.id).name)
    expect(names).toHaveLength(3)
    const servers = await Promise.all(names.map((name: string) => clients.url(name)))
    const streams = [
      {name: 'GROW_R3', replicas: 3},
      {name: 'GROW_R1', replicas: 1},
    ]
    writer = await AckedWriter.start({ignoreClusterUpdates: true, servers, streams})
    await writer.waitForAcks(100, 120_000)
    const before = writer.ackedCount
    await grownNodeJoins('node-4', 4)
    const during = writer.ackedCount - before
    await writer.waitForAcks(100, 120_000)
    await writer.stop()
    const report = await writer.verify()
    timings.writerAcked = writer.ackedCount
    timings.writerErrors = writer.errors
    expect(during).toBeGreaterThan(0)
    expect(report.map((r) => r.stream)).toEqual(['GROW_R3', 'GROW_R1'])
    for (const r of report)
      expect({acked: r.acked > 0, missing: r.missing, stream: r.stream}).toEqual({acked: true, missing: [], stream: r.stream})
    // The streams go: the tests after this one reboot and replace nodes, which an R1 stream would tie down.
    const jsm = await jetstreamManager(writer.nc)
    for (const s of streams) await jsm.streams.delete(s.name)
    await writer.close()
    writer = undefined
  }, 900_000)

  test('a stranger without the route credentials cannot join: stopped by the cloud firewall, and without it by NATS; SSH is closed to it either way', async () => {
    // A machine made from node-4's own user data, on addresses of its own, with a wrong route password.
    const node4 = sb.registry().nodes[forestId].find((n: any) => n.id === 'node-4')
    const text = server('node-4').userData
    // The route password (the cluster block's authorization), not the system account user's, which comes first.
    const password = /user: "morpheus-route"\s+password: "([^"]+)"/.exec(text)![1]
    const stranger = {ipv4: '192.0.2.240', ipv6: '2001:db8:50:5555::1'}
    const userData = text
      .split(password)
      .join('not-the-forest-password')
      .split(node4.ipv4)
      .join(stranger.ipv4)
      .split(node4.ipv6)
      .join(stranger.ipv6)
      .split('node-4')
      .join('stranger')
    expect(userData).toContain('stranger')
    expect(userData).not.toContain(password)
    booter.boot({id: 99_001, ipv4: stranger.ipv4, ipv6: '2001:db8:50:5555::/64', name: 'stranger', userData})
    try {
      await booter.idle()
      await cloudInitDone('stranger')
      await strangerStaysOut(stranger)
    } finally {
      firewall.enabled = true
      firewall.sync()
      await booter.stop(99_001)
      await booter.idle()
    }
  }, 600_000)

  async function strangerStaysOut(stranger: {ipv4: string; ipv6: string}): Promise<void> {
    const monitors = sb.registry().nodes[forestId].map((n: any) => `http://${n.ipv4}:8222`)
    const target = sb.registry().nodes[forestId].find((n: any) => n.id === 'node-1')
    const reach = (port = 6222) => booter.exec('stranger', ['timeout', '5', 'bash', '-c', `exec 3<>/dev/tcp/${target.ipv6}/${port}`])
    const alone = async () => {
      expect((await varz(`http://${stranger.ipv4}:8222`)).routes).toBe(0)
      for (const m of monitors) {
        const routes = (await routez(m)).routes ?? []
        for (const route of routes) expect([stranger.ipv4, stranger.ipv6]).not.toContain(route.ip)
        expect(routes).toHaveLength(3)
      }
    }
    // With the cloud firewall: the route port of every forest node is closed to it, and SSH too (operators only).
    expect((await reach()).code).not.toBe(0)
    expect((await reach(22)).code).not.toBe(0)
    await new Promise((r) => setTimeout(r, 10_000))
    await alone()
    // Without it (only the nodes' own ufw and NATS): the port answers (ufw lets routes in), NATS refuses the route.
    firewall.enabled = false
    firewall.sync()
    expect((await reach()).code).toBe(0)
    // SSH stays closed to it: the node's ufw lets only the operator's networks in on port 22.
    expect((await reach(22)).code).not.toBe(0)
    await booter.exec('stranger', ['systemctl', 'restart', 'nats.service'])
    await new Promise((r) => setTimeout(r, 15_000))
    await alone()
    const log = await booter.exec(server('node-1').name, ['journalctl', '-u', 'nats.service', '--no-pager'])
    expect(log.stdout).toMatch(/authori[sz]ation|authentication/i)
  }

  // On the registry `none` (the file on this device): with the Storage Box registry the CLI crashed on Ctrl-C (an
  // unhandled AbortError from the WebDAV client), reported to its owners.
  test('Ctrl-C halfway through a plant leaves nothing', async () => {
    const before = sim.paid()
    const machines = booter.machines.size
    const child = sb.spawn(['plant', 'cloud', '--nodes', '2', '--yes', '--json'])
    let out = ''
    child.stdout!.on('data', (d) => (out += d))
    child.stderr!.on('data', (d) => (out += d))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    // Halfway: the new servers exist and their machines are booting; the forest has not formed.
    await waitFor(() => booter.machines.size > machines, 120_000, 100)
    child.kill('SIGINT')
    const code = await exited
    expect({code, out}).toEqual({code: 130, out: expect.stringContaining('interrupted')})
    await booter.idle()
    expect(sim.paid()).toEqual(before)
    expect(booter.machines.size).toBe(machines)
    expect((await sb.json(['list'])).forests.map((f: any) => f.id)).toEqual([forestId])
  }, 400_000)

  test('grow adds node-5 with the registry on S3 (the S3 simulator): it joins', async () => {
    s3 = new FakeS3({
      buckets: {forests: {versioning: true}},
      credentials: [{accessKeyId: 'REALNODESKEY', secretAccessKey: 'real-nodes-s3-secret'}],
    })
    const endpoint = await s3.start()
    const link = await sb.run(['plugins', 'link', join(ROOT, 'plugins', 'registry-s3'), '--no-install'], {timeoutMs: 120_000})
    expect(link.code).toBe(0)
    const moved = await sb.runJson(
      [
        'registry',
        'migrate',
        '--to',
        's3',
        '--set',
        `endpoint=${endpoint}`,
        '--set',
        'bucket=forests',
        '--set',
        'key=team/registry.json',
        '--set',
        'force_path_style=true',
        '--set',
        'access_key_id=${S3_KEY}',
        '--set',
        'secret_access_key=${S3_SECRET}',
      ],
      {env: {S3_KEY: 'REALNODESKEY', S3_SECRET: 'real-nodes-s3-secret'}, timeoutMs: 120_000},
    )
    if (moved.code !== 0) throw new Error(`migrate to s3 failed: ${moved.stdout}\n${moved.stderr}`)
    sb.env.S3_KEY = 'REALNODESKEY'
    sb.env.S3_SECRET = 'real-nodes-s3-secret'
    await grownNodeJoins('node-5', 5)
  }, 700_000)

  test('grow adds node-6 with the registry on a Storage Box (WebDAV; its CIFS mount stood in for by a bind mount): it joins', async () => {
    apache = await startApache()
    const folder = 'forests'
    storageBoxFolder = join(apache.root, folder)
    const moved = await sb.runJson(
      [
        'registry',
        'migrate',
        '--to',
        'storagebox',
        '--set',
        `url=${apache.origin}/${folder}/registry.json`,
        '--set',
        `username=${apache.username}`,
        '--set',
        'password=${SB_PASSWORD}',
        '--set',
        'node_username=forests-ro',
        '--set',
        'node_password=${SB_NODE_PASSWORD}',
      ],
      {env: {SB_NODE_PASSWORD: 'read-only-node-pass', SB_PASSWORD: apache.password}, timeoutMs: 120_000},
    )
    if (moved.code !== 0) throw new Error(`migrate to storagebox failed: ${moved.stdout}\n${moved.stderr}`)
    // Nodes mount with a read-only account (set by hand here: `registry migrate` does not carry one made by
    // `registry init`), never with the registry's own password.
    sb.env.SB_PASSWORD = apache.password
    sb.env.SB_NODE_PASSWORD = 'read-only-node-pass'
    await grownNodeJoins('node-6', 6)
    const userData6 = server('node-6').userData
    expect(userData6).toContain('forests-ro')
    expect(userData6).not.toContain(apache.password)
    expect(userData6).not.toContain(Buffer.from(apache.password).toString('base64'))
    // node-6 reads the registry document the CLI writes, through the stand-in mount, and its firewall sync runs.
    const name = server('node-6').name
    const seen = JSON.parse((await booter.exec(name, ['cat', '/mnt/forest/registry.json'])).stdout)
    expect(seen.nodes[forestId].map((n: any) => n.id).sort()).toEqual(['node-1', 'node-2', 'node-3', 'node-4', 'node-5', 'node-6'])
    const sync = await booter.exec(name, ['systemctl', 'start', 'morpheus-firewall-sync.service'])
    expect(sync.code).toBe(0)
  }, 700_000)

  test('a node rebooted comes back and rejoins; status is healthy again', async () => {
    const name = server('node-2').name
    await booter.reboot(name)
    const status0 = await sb.json(['status', forestId])
    const monitors = status0.nodes.map((n: any) => `http://${n.ipv4}:8222`)
    try {
      await waitRoutes(monitors, monitors.length - 1, 180_000)
    } catch (error) {
      const routes = await Promise.all(
        monitors.map((m: string) =>
          varz(m).then(
            (v) => `${m} ${v.server_name} routes ${v.routes}`,
            (e) => `${m} ${e}`,
          ),
        ),
      )
      const nats = await booter.exec(name, [
        'sh',
        '-c',
        'systemctl status --no-pager nats.service; journalctl -b -u nats.service --no-pager | tail -n 60',
      ])
      throw new Error(`${(error as Error).message}\n${routes.join('\n')}\n${nats.stdout}${nats.stderr}\n${await booter.diagnose(name)}`, {
        cause: error,
      })
    }
    // Routes come first; JetStream catches up a moment later: status turns healthy again.
    let status: any
    await waitFor(async () => (status = await sb.json(['status', forestId])).health === 'healthy', 120_000, 2000).catch(() => undefined)
    expect(status.health).toBe('healthy')
    expect(status.nodes.every((n: any) => n.health.healthy && n.health.routes === monitors.length - 1)).toBe(true)
    expect(
      (await booter.exec(name, ['systemctl', 'is-active', 'nats.service', 'nimsforest.service', 'ufw.service'])).stdout.trim().split('\n'),
    ).toEqual(['active', 'active', 'active'])
  }, 400_000)

  /** A machine's ed25519 host key (type and key, no comment), read from inside it. */
  async function hostKey(name: string): Promise<string> {
    const r = await booter.exec(name, ['cat', '/etc/ssh/ssh_host_ed25519_key.pub'])
    expect(r.code).toBe(0)
    return r.stdout.trim().split(' ').slice(0, 2).join(' ')
  }

  /** The name of the server a NATS client reaches through the forwarder of machine `name`. */
  async function serverNameThrough(name: string): Promise<string | undefined> {
    const nc = await connectClient([await clients.url(name)], {ignoreClusterUpdates: true})
    try {
      return nc.info?.server_name
    } finally {
      await nc.close()
    }
  }

  test('repair: a node whose machine died (the leader of an R3 stream the official client writes to all the time) gets a new server with the same name and Primary IPs, booted as a fresh machine; the forest is healthy again, no acked message lost', async () => {
    // The writer first, through every node's forwarder; the node to kill is its stream's leader.
    const names = (await sb.json(['status', forestId])).nodes.map((n: any) => server(n.id).name)
    const servers = await Promise.all(names.map((n: string) => clients.url(n)))
    writer = await AckedWriter.start({ignoreClusterUpdates: true, servers, streams: [{name: 'REPAIR_R3', replicas: 3}]})
    await writer.waitForAcks(100, 120_000)
    const jsm = await jetstreamManager(writer.nc)
    const victimId = (await jsm.streams.info('REPAIR_R3')).cluster!.leader!
    expect(victimId).toMatch(/^node-\d$/)
    const victim = server(victimId)
    // The tests' forwarder into the victim's machine (clients.ts) follows it to the new machine.
    expect(await serverNameThrough(victim.name)).toBe(victimId)
    const oldMachine = clients.serving(victim.name)
    expect(oldMachine).toBe(clients.machinePid(victim.name))
    const oldHostKey = await hostKey(victim.name)
    const ips = [victim.ipv4, victim.ipv6].filter((x) => x !== undefined).sort()
    // The machine dies at once (no clean shutdown): the simulator still lists its server as running.
    await booter.exec(victim.name, ['systemctl', 'poweroff', '--force', '--force'], 10_000).catch(() => undefined)
    let down: any
    await waitFor(
      async () => (down = await sb.json(['status', forestId])).nodes.find((n: any) => n.id === victimId).health.reachable === false,
      120_000,
      1000,
    )
    expect(down.health).toBe('degraded')
    const started = Date.now()
    const r = await sb.runJson(['repair', forestId, '--yes'], {env: DEBUG, timeoutMs: 900_000})
    timings.repair = Math.round((Date.now() - started) / 1000)
    if (r.code !== 0) throw new Error(`repair failed: ${r.stdout}\n${r.stderr}\n${booter.failureReport()}`)
    expect(r.out).toMatchObject({dead: [victimId], replaced: [victimId], status: 'repaired'})
    const fresh = server(victimId)
    expect(fresh.id).not.toBe(victim.id)
    expect(fresh.name).toBe(victim.name)
    expect([fresh.ipv4, fresh.ipv6].filter((x) => x !== undefined).sort()).toEqual(ips)
    for (const id of ips) expect(sim.primaryIps.get(id!)).toMatchObject({assignee_id: fresh.id, auto_delete: true})
    await cloudInitDone(fresh.name)
    const status = await sb.json(['status', forestId])
    expect(status.health).toBe('healthy')
    expect(status.nodes.every((n: any) => n.health.healthy && n.health.routes === status.nodes.length - 1)).toBe(true)
    // The same server name back in the cluster (not a new peer beside a dead one).
    expect((await varz(`http://${status.nodes.find((n: any) => n.id === victimId).ipv4}:8222`)).server_name).toBe(victimId)
    expect(await serverNameThrough(fresh.name)).toBe(victimId)
    expect(clients.serving(fresh.name)).toBe(clients.machinePid(fresh.name))
    expect(clients.serving(fresh.name)).not.toBe(oldMachine)
    // A new machine has new SSH host keys on the same addresses (as a server Hetzner makes anew): whoever keeps
    // known_hosts must expect that of a repaired node.
    const freshKey = await hostKey(fresh.name)
    expect(freshKey).toMatch(/^ssh-ed25519 /)
    expect(freshKey).not.toBe(oldHostKey)
    const repaired = status.nodes.find((n: any) => n.id === victimId)
    const login = await ssh(key.identityFile, repaired.ipv6, ['cat', '/etc/ssh/ssh_host_ed25519_key.pub'])
    expect({code: login.code, key: login.stdout.trim().split(' ').slice(0, 2).join(' ')}).toEqual({code: 0, key: freshKey})
    // Every acked message is in the R3 stream, which has its three replicas again, all current.
    await nothingLost(writer, 'repair')
    let cluster: any
    const whole = async () => {
      cluster = (await jsm.streams.info('REPAIR_R3')).cluster
      return (cluster.replicas ?? []).length === 2 && cluster.replicas.every((p: any) => p.current && !p.offline)
    }
    await waitFor(whole, 120_000, 1000).catch(() => undefined)
    expect({
      leader: cluster.leader,
      replicas: cluster.replicas.map((p: any) => ({current: p.current, offline: p.offline ?? false})),
    }).toEqual({
      leader: expect.stringMatching(/^node-\d$/),
      replicas: [
        {current: true, offline: false},
        {current: true, offline: false},
      ],
    })
    await jsm.streams.delete('REPAIR_R3')
    await writer.close()
    writer = undefined
  }, 1_000_000)

  test('shrink removes the node of an R1 stream (and of an R3 replica) while the official NATS client writes to both through the forwarders: the CLI moves them through its SSH tunnels, no acked message is lost', async () => {
    // The registry is on the Storage Box by now: the nodes as status reads them.
    const names = (await sb.json(['status', forestId])).nodes.map((n: any) => server(n.id).name)
    expect(names).toHaveLength(6)
    const servers = await Promise.all(names.map((name: string) => clients.url(name)))
    const streams = [
      {name: 'SHRINK_R3', replicas: 3},
      {name: 'SHRINK_R1', replicas: 1},
    ]
    writer = await AckedWriter.start({ignoreClusterUpdates: true, servers, streams})
    await writer.waitForAcks(100, 120_000)
    // The node to remove: the one the R1 stream lives on; it holds one of the R3 stream's replicas too (placed so if not).
    const jsm = await jetstreamManager(writer.nc)
    const victim = (await jsm.streams.info('SHRINK_R1')).cluster!.leader!
    const r3 = (await jsm.streams.info('SHRINK_R3')).cluster!
    const r3Peers = [r3.leader, ...(r3.replicas ?? []).map((p) => p.name)]
    expect(victim).toMatch(/^node-\d$/)
    const before = writer.ackedCount
    const started = Date.now()
    const r = await sb.runJson(['shrink', forestId, '--node', victim, '--yes'], {env: DEBUG, timeoutMs: 600_000})
    timings.shrink = Math.round((Date.now() - started) / 1000)
    if (r.code !== 0) throw new Error(`shrink failed: ${r.stdout}\n${r.stderr}`)
    const during = writer.ackedCount - before
    expect(r.out.removed.id).toBe(victim)
    expect(r.out.moved.map((m: any) => m.stream)).toEqual(
      expect.arrayContaining(r3Peers.includes(victim) ? ['SHRINK_R1', 'SHRINK_R3'] : ['SHRINK_R1']),
    )
    await nothingLost(writer, 'shrink', undefined, 120_000)
    expect(during).toBeGreaterThan(0)
    const status = await sb.json(['status', forestId])
    expect(status.health).toBe('healthy')
    expect(status.nodes.map((n: any) => n.id)).not.toContain(victim)
    expect(status.nodes).toHaveLength(5)
    for (const s of streams) await jsm.streams.delete(s.name)
    await writer.close()
    writer = undefined
  }, 900_000)

  test('teardown leaves nothing: no server, no Primary IP, no machine', async () => {
    const r = await sb.runJson(['teardown', forestId, '--yes'], {timeoutMs: 300_000})
    if (r.code !== 0) throw new Error(`teardown exited ${r.code}: ${r.stdout}\n${r.stderr}`)
    await booter.idle()
    expect(sim.paid()).toEqual({primaryIps: [], servers: []})
    expect(sim.firewalls.size).toBe(0)
    expect(booter.machines.size).toBe(0)
    expect(execFileSync('mount', {encoding: 'utf8'})).not.toContain(work)
  }, 400_000)

  test('embedded mode, IPv6-only nodes: the NimsForest stand-in forms a forest from the user data', async () => {
    const embedded = new Sandbox(
      hetznerConfig({...integrationFor(site, files.url6)}, key, {forest: {nats_mode: 'embedded'}, hetzner: {ipv4: false}}),
      {HCLOUD_ENDPOINT: sim.url, HCLOUD_TOKEN: TOKEN},
    )
    try {
      const r = await embedded.runJson(['plant', 'cloud', '--nodes', '2', '--yes'], {timeoutMs: 600_000})
      if (r.code !== 0) throw new Error(`embedded plant failed: ${r.stdout}\n${r.stderr}`)
      expect(r.out.forest.nats_mode).toBe('embedded')
      for (const n of r.out.nodes) {
        expect(n.ipv4 ?? null).toBeNull()
        expect(n.ipv6).toMatch(/^2001:db8:50:/)
        const v = await varz(n.monitor)
        expect(v.routes).toBe(1)
        expect(v.cluster.name).toBe(r.out.forest.id)
        // SSH over IPv6 alone (what reaches the client port of an IPv6-only node).
        const login = await ssh(key.identityFile, n.ipv6, ['hostname'])
        expect(login).toMatchObject({code: 0})
      }
      for (const m of booter.machines.values()) await cloudInitDone(m.request.name)
      const down = await embedded.runJson(['teardown', r.out.forest.id, '--yes'], {timeoutMs: 300_000})
      expect(down.code).toBe(0)
      await booter.idle()
      expect(booter.machines.size).toBe(0)
    } finally {
      await embedded.cleanup()
    }
  }, 700_000)
  // Issue 17 on real nodes, on a forest of its own (registry none): planted with one node, a grow is interrupted while
  // node-1 is being made again (settled: node-1 alone again, its stream restored), then it grows (node-1 is made
  // again as a cluster member on its Primary IPs, its streams carried through the CLI's SSH tunnel), grows again, and
  // is upgraded node by node (each R1 stream moved off a node before its new, empty machine replaces it), while the
  // official NATS client writes all the time through the forwarders. Shrink and repair: the first forest, above.
  let live: Sandbox | undefined
  let liveId = ''
  const liveServer = (nodeId: string) => [...sim.servers.values()].find((x) => x.labels.forest === liveId && x.labels.node === nodeId)!

  /** A writer through the forwarders of these nodes' machines, once it has 100 acks. */
  async function liveWriter(ids: string[], streams: Array<{name: string; replicas: number}>): Promise<AckedWriter> {
    const servers = await Promise.all(ids.map((id) => clients.url(liveServer(id).name)))
    const w = await AckedWriter.start({ignoreClusterUpdates: true, servers, streams})
    await w.waitForAcks(100, 120_000)
    return w
  }

  /**
   * 100 more acks (within `waitMs`), then the writer stops and every acked message must be in its stream
   * (read through `through`, else the writer's servers). Its counts go into the timings under `label`.
   */
  async function nothingLost(w: AckedWriter, label: string, through?: string[], waitMs = 180_000): Promise<void> {
    await w.waitForAcks(100, waitMs)
    await w.stop()
    timings[`${label}WriterAcked`] = w.ackedCount
    timings[`${label}WriterErrors`] = w.errors
    await allThere(w, through)
  }

  /** Every message the writer has had acked so far is in its stream (it may still be writing). */
  async function allThere(w: AckedWriter, through?: string[]): Promise<void> {
    for (const x of await w.verify(through))
      expect({acked: x.acked > 0, missing: x.missing, stream: x.stream}).toEqual({acked: true, missing: [], stream: x.stream})
  }

  async function liveHealthy(size: number): Promise<void> {
    let status: any
    await waitFor(async () => (status = await live!.json(['status', liveId])).health === 'healthy', 120_000, 2000).catch(() => undefined)
    expect(status.health).toBe('healthy')
    expect(status.nodes).toHaveLength(size)
    expect(status.nodes.every((n: any) => n.health.healthy && n.health.routes === size - 1)).toBe(true)
  }

  test("Ctrl-C during grow from one node, while node-1 is being made again (its old server deleted): exit 130; node-1 is made again alone on its Primary IPs, its R1 stream restored from the CLI's snapshot; no acked message lost", async () => {
    live = new Sandbox(hetznerConfig(integration, key), {HCLOUD_ENDPOINT: sim.url, HCLOUD_TOKEN: TOKEN})
    const planted = await live.runJson(['plant', 'cloud', 'small', '--yes'], {timeoutMs: 600_000})
    if (planted.code !== 0) throw new Error(`plant failed: ${planted.stdout}\n${planted.stderr}\n${booter.failureReport()}`)
    liveId = planted.out.forest.id
    const old = {...liveServer('node-1')}
    await cloudInitDone(old.name)
    // The writer goes on into the next test (the grow itself): one writer, so its ids are never written twice.
    writer = await liveWriter(['node-1'], [{name: 'ONE_R1', replicas: 1}])
    const started = Date.now()
    const child = live.spawn(['grow', liveId, '--auto', '--threshold', '0', '--json'], {env: DEBUG})
    let out = ''
    child.stdout!.on('data', (d) => (out += d))
    child.stderr!.on('data', (d) => (out += d))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    // The window that matters: node-1's old server is gone (its streams carried out to the CLI's disk), the new one not yet whole.
    await waitFor(() => !sim.servers.has(old.id), 300_000, 100)
    child.kill('SIGINT')
    const code = await exited
    timings.growFromOneInterrupted = Math.round((Date.now() - started) / 1000)
    expect({code, out}).toEqual({code: 130, out: expect.stringContaining('interrupted')})
    const doc = live.registry()
    expect(doc.forests[liveId].operation).toBeNull()
    expect(doc.nodes[liveId].map((n: any) => [n.id, n.status])).toEqual([['node-1', 'active']])
    // node-1 again, alone, on its addresses; node-2 was never made or is gone again.
    const alone = liveServer('node-1')
    expect([alone.name, alone.ipv4, alone.ipv6]).toEqual([old.name, old.ipv4, old.ipv6])
    expect([...sim.servers.values()].filter((x) => x.labels.forest === liveId).map((x) => x.labels.node)).toEqual(['node-1'])
    await cloudInitDone(alone.name)
    await liveHealthy(1)
    const [monitor] = (await live.json(['status', liveId])).nodes.map((n: any) => n.monitor)
    expect(Boolean((await varz(monitor)).cluster?.name)).toBe(false) // no cluster block: it runs alone
    // Every message acked so far is in the stream again (restored from the snapshot), and writes are acked again.
    await writer.waitForAcks(50, 180_000)
    await allThere(writer)
  }, 1_200_000)

  test('grow from one node: node-1 is made again on its Primary IPs as a cluster member and node-2 joins, while the official client writes to its R1 stream; every acked message is there, read through node-2', async () => {
    const old = {...liveServer('node-1')}
    const started = Date.now()
    const r = await live!.runJson(['grow', liveId, '--auto', '--threshold', '0'], {env: DEBUG, timeoutMs: 900_000})
    timings.growFromOne = Math.round((Date.now() - started) / 1000)
    if (r.code !== 0) throw new Error(`grow failed: ${r.stdout}\n${r.stderr}\n${booter.failureReport()}`)
    expect(r.out.action).toMatchObject({count: 1, node_ids: ['node-2'], nodes_after: 2})
    const fresh = liveServer('node-1')
    expect(fresh.id).not.toBe(old.id)
    expect([fresh.name, fresh.ipv4, fresh.ipv6]).toEqual([old.name, old.ipv4, old.ipv6])
    expect(sim.servers.has(old.id)).toBe(false)
    await cloudInitDone(fresh.name)
    await liveHealthy(2)
    // Read back through node-2 alone: the stream lives in the cluster's meta group now, not only on node-1's disk.
    await nothingLost(writer!, 'growFromOne', [await clients.url(liveServer('node-2').name)])
    await writer!.close()
    writer = undefined
  }, 1_200_000)

  test('upgrade of NimsForest on three nodes, one at a time, while the official client writes to an R3 and an R1 stream: every machine is new, the R1 streams moved first, no acked message lost', async () => {
    const r3 = await live!.runJson(['grow', liveId, '--auto', '--threshold', '0'], {timeoutMs: 600_000})
    if (r3.code !== 0) throw new Error(`grow to three failed: ${r3.stdout}\n${r3.stderr}`)
    await liveHealthy(3)
    const ids = ['node-1', 'node-2', 'node-3']
    const before = new Map(ids.map((id) => [id, liveServer(id).id]))
    writer = await liveWriter(ids, [
      {name: 'UP_R3', replicas: 3},
      {name: 'UP_R1', replicas: 1},
    ])
    // The stream carried by the grow above is data too: it must come through the upgrade whole.
    const jsm = await jetstreamManager(writer.nc)
    const carried = (await jsm.streams.info('ONE_R1')).state.messages
    expect(carried).toBeGreaterThan(0)
    const build = `${files.url4}/nimsforest/forest-next`
    const started = Date.now()
    const r = await live!.runJson(['upgrade', liveId, '--nimsforest', build, '--yes'], {env: DEBUG, timeoutMs: 1_800_000})
    timings.upgrade3 = Math.round((Date.now() - started) / 1000)
    if (r.code !== 0) throw new Error(`upgrade failed: ${r.stdout}\n${r.stderr}\n${booter.failureReport()}`)
    expect(r.out.status).toBe('upgraded')
    expect([...r.out.upgraded].sort()).toEqual(ids)
    expect(r.out.moved.map((m: any) => m.stream)).toEqual(expect.arrayContaining(['ONE_R1', 'UP_R1']))
    for (const id of ids) {
      expect(liveServer(id).id).not.toBe(before.get(id))
      expect(liveServer(id).userData).toContain(build)
    }
    expect(live!.registry().forests[liveId].versions.nimsforest).toBe(build)
    await liveHealthy(3)
    await nothingLost(writer, 'upgrade')
    expect((await jsm.streams.info('ONE_R1')).state.messages).toBe(carried)
    await writer.close()
    writer = undefined
  }, 2_400_000)

  test('teardown of the grown and upgraded forest leaves nothing of it', async () => {
    const r = await live!.runJson(['teardown', liveId, '--yes'], {timeoutMs: 300_000})
    if (r.code !== 0) throw new Error(`teardown exited ${r.code}: ${r.stdout}\n${r.stderr}`)
    await booter.idle()
    expect(sim.paid()).toEqual({primaryIps: [], servers: []})
    expect(booter.machines.size).toBe(0)
    await live!.cleanup()
    live = undefined
  }, 400_000)
})
