import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {MorpheusError} from '../../../src/errors.js'
import type {ClusterAuth, NatsMode, NodeRecord, TemplateRenderer, UserDataInput} from '../../../src/plugin-api/index.js'
import {bootstrapSettings, type BootstrapSettings} from '../../../src/templates/bootstrap.js'
import {storageBoxNodeAccess} from '../../../plugins/registry-storagebox/src/node-access.js'
import {pluginError} from '../../../src/plugins/errors.js'
import {natsQuote} from '../../../src/templates/escape.js'
import {createRenderer} from '../../../src/templates/render.js'
import {USER_DATA_LIMIT} from '../../../src/templates/userdata.js'
import {bash, bashSyntax, cloudInitSchema, HOSTILE, natsServerCheck, pyYaml, removeScratch, systemdVerify} from './tools.js'

afterAll(removeScratch)

const ports = {client: 4222, cluster: 6222, monitor: 8222}
// The registry's own read-write password (must never reach a node) and the nodes' read-only sub-account's.
const SB_PASSWORD = 'sb-pa55,w"o#rd $(x) {{y}} }'
const NODE_PASSWORD = 'node-pa55,w"o#rd $(z) {{q}} }'
const storageBoxRegistry = {
  node_password: NODE_PASSWORD,
  node_username: 'u123456-sub1',
  password: SB_PASSWORD,
  storagebox_host: 'u123456.your-storagebox.de',
  type: 'storagebox',
  url: 'https://u123456.your-storagebox.de/morpheus/forests/registry.json',
  username: 'u123456',
}
/** What the storagebox backend's nodeAccess() gives for that registry (its own function, as the runtime gets it). */
const storageBoxAccess = storageBoxNodeAccess(storageBoxRegistry, null, pluginError)

function node(i: number, ipv4: boolean, forest = 'forest-1700000000'): NodeRecord {
  return {
    created_at: '2026-11-24T00:00:00Z',
    forest_id: forest,
    id: `node-${i}`,
    ip: `2001:db8:0:${i}::1`,
    ipv6: `2001:db8:0:${i}::1`,
    ...(ipv4 ? {ipv4: `203.0.113.${i}`} : {}),
    role: 'node',
    status: 'creating',
  }
}

function input(mode: NatsMode, ipv4: boolean, extra: Partial<UserDataInput> = {}): UserDataInput {
  return {
    cluster: true,
    clusterAuth: {password: 'route-secret-1', user: 'forest-route'},
    forest: {
      created_at: '2026-11-24T00:00:00Z',
      id: 'forest-1700000000',
      last_expansion: null,
      node_count: 3,
      provider: 'hetzner',
      size: 'medium',
      status: 'planting',
    },
    ipv4,
    natsMode: mode,
    node: node(2, ipv4),
    operatorCidrs: ['198.51.100.0/24', '2001:db8:ffff::/48'],
    peers: [node(1, ipv4), node(3, ipv4)],
    ports,
    sshKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey operator@laptop'],
    ...extra,
  }
}

interface Parsed {
  doc: any
  files: Record<string, {content: string; permissions: string; owner: string}>
}

function parse(text: string): Parsed {
  const doc = pyYaml(text)
  const files: Parsed['files'] = {}
  for (const f of doc.write_files) files[f.path] = f
  return {doc, files}
}

/** The settings block of the bootstrap script, evaluated by bash: each variable as bash sees it. */
function scriptSettings(script: string): Record<string, string | string[]> {
  const head = script.slice(0, script.indexOf('# --- end of settings ---'))
  const names = [...head.matchAll(/^([A-Z_0-9]+)=/gm)].map((m) => m[1])
  const dump = names.map((n) => `printf '%s\\0' ${n}; printf '%s\\1' "\${${n}[@]}"; printf '\\2'`).join('\n')
  const r = bash(`${head}\n${dump}`)
  expect(r.stderr).toBe('')
  const out: Record<string, string | string[]> = {}
  for (const record of r.stdout.split('\u0002').slice(0, -1)) {
    const [name, rest] = record.split('\0')
    const values = rest.split('\u0001').slice(0, -1)
    out[name] = /^[A-Z_]+_(ADDRESSES|CIDRS)$/.test(name) ? values : values[0]
  }
  return out
}

/** The firewall part of the script run against a recording `ufw`: the rules it would add. */
function firewallRules(script: string): string[] {
  const head = script.slice(0, script.indexOf('# --- end of settings ---'))
  const start = script.indexOf('ufw default deny incoming')
  const end = script.indexOf('ufw --force enable')
  expect(start).toBeGreaterThan(0)
  const r = bash(`ufw() { printf '%s\\n' "$*"; }\n${head}\n${script.slice(start, end)}\nufw --force enable`)
  expect(r.stderr).toBe('')
  return r.stdout.trim().split('\n')
}

let renderer: TemplateRenderer
let sbRenderer: TemplateRenderer
beforeAll(async () => {
  renderer = await createRenderer({bootstrap: bootstrapSettings({integration: {}, nodeAccess: null})})
  sbRenderer = await createRenderer({bootstrap: bootstrapSettings({integration: {}, nodeAccess: storageBoxAccess})})
})

describe.each([
  ['embedded', false, false],
  ['embedded', false, true],
  ['embedded', true, false],
  ['embedded', true, true],
  ['system', false, false],
  ['system', false, true],
  ['system', true, false],
  ['system', true, true],
] as Array<[NatsMode, boolean, boolean]>)('%s mode, Storage Box %s, IPv4 %s', (mode, storageBox, ipv4) => {
  let text: string
  let parsed: Parsed
  beforeAll(() => {
    text = (storageBox ? sbRenderer : renderer).userData(input(mode, ipv4))
    parsed = parse(text)
  })

  test('a valid cloud-config under 32 KiB', () => {
    expect(text.startsWith('#cloud-config\n')).toBe(true)
    const check = cloudInitSchema(text)
    expect(check.output).toContain('Valid cloud-config')
    expect(check.ok).toBe(true)
    expect(Buffer.byteLength(text)).toBeLessThan(USER_DATA_LIMIT)
    expect(parsed.doc.ssh_authorized_keys).toEqual(['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey operator@laptop'])
    expect(parsed.doc.runcmd).toEqual([['/bin/bash', '/usr/local/sbin/morpheus-bootstrap']])
    expect(parsed.doc.packages).toEqual(expect.arrayContaining(['curl', 'ufw']))
    expect(parsed.doc.packages.includes('cifs-utils')).toBe(storageBox)
  })

  test("node identity at NimsForest's path, named in its unit; the production command; the JetStream directory", () => {
    const info = JSON.parse(parsed.files['/etc/nimsforest/node-info.json'].content)
    expect(info).toMatchObject({forest_id: 'forest-1700000000', ip: '2001:db8:0:2::1', nats_mode: mode, node_id: 'node-2'})
    expect('ipv4' in info).toBe(ipv4)
    const unit = parsed.files['/etc/systemd/system/nimsforest.service'].content
    expect(unit).toContain('Environment="NATS_CLUSTER_NODE_INFO=/etc/nimsforest/node-info.json"')
    expect(unit).toContain('Environment="JETSTREAM_DIR=/var/lib/nimsforest/jetstream"')
    expect(unit).toContain('Environment="NATS_CLUSTER_REGISTRY=/mnt/forest/registry.json"')
    expect(unit).toMatch(/^ExecStart=\/opt\/nimsforest\/bin\/forest$/m)
    expect(unit).not.toMatch(/^ExecStart=.*standalone/m)
    expect(systemdVerify(unit, 'nimsforest.service')).not.toMatch(/Invalid|ignoring|Unknown (key|section)|Failed to parse/)
    const script = parsed.files['/usr/local/sbin/morpheus-bootstrap'].content
    expect(parsed.files['/usr/local/sbin/morpheus-bootstrap'].permissions).toBe('0700')
    expect(bashSyntax(script).ok).toBe(true)
    expect(script).toContain("install -d -m 0755 /opt/nimsforest/bin /var/lib/nimsforest '/var/lib/nimsforest/jetstream'")
    expect(script).toMatch(/systemctl enable --now nimsforest\.service/)
    expect(scriptSettings(script)).toMatchObject({NIMSFOREST_SHA256: '', NIMSFOREST_URL: 'https://nimsforest.io/bin/nimsforest'})
  })

  test("the mode's own files", () => {
    const unit = parsed.files['/etc/systemd/system/nimsforest.service'].content
    const script = parsed.files['/usr/local/sbin/morpheus-bootstrap'].content
    if (mode === 'system') {
      const conf = parsed.files['/etc/nats/nats.conf']
      expect(conf.permissions).toBe('0600')
      const check = natsServerCheck(conf.content)
      expect(check.output).toContain('is valid')
      expect(conf.content).toContain('server_name: "node-2"')
      expect(conf.content).toContain('name: "forest-1700000000"')
      expect(conf.content).toContain('listen: "127.0.0.1:4222"')
      expect(conf.content).toContain('advertise: "[2001:db8:0:2::1]:6222"')
      expect(conf.content).toContain('user: "forest-route"')
      expect(conf.content).toContain('"nats-route://forest-route:route-secret-1@[2001:db8:0:1::1]:6222"')
      expect(conf.content).toContain('"nats-route://forest-route:route-secret-1@[2001:db8:0:3::1]:6222"')
      expect(parsed.files['/etc/systemd/system/nats.service'].content).toMatch(
        /^ExecStart=\/usr\/local\/bin\/nats-server -c \/etc\/nats\/nats.conf$/m,
      )
      expect(systemdVerify(parsed.files['/etc/systemd/system/nats.service'].content, 'nats.service')).not.toMatch(
        /Invalid|ignoring|Unknown (key|section)/,
      )
      // Stopped through lame duck mode (SIGUSR2), given longer than nats.conf's lame duck duration and grace.
      const natsUnit = parsed.files['/etc/systemd/system/nats.service'].content
      expect(natsUnit).toMatch(/^KillSignal=SIGUSR2$/m)
      const stopSeconds = Number(/^TimeoutStopSec=(\d+)s$/m.exec(natsUnit)?.[1])
      const lameDuck = Number(/^lame_duck_duration: "(\d+)s"$/m.exec(conf.content)?.[1])
      const grace = Number(/^lame_duck_grace_period: "(\d+)s"$/m.exec(conf.content)?.[1])
      expect(lameDuck).toBe(30)
      expect(grace).toBe(2)
      expect(stopSeconds).toBeGreaterThan(lameDuck + grace)
      expect(unit).toMatch(/^Requires=nats\.service$/m)
      expect(unit).toMatch(/^After=network-online\.target nats\.service$/m)
      expect(unit).toContain('Environment="NATS_URL=nats://127.0.0.1:4222"')
      expect(script).toContain("'/usr/local/bin/nats-server' -t -c '/etc/nats/nats.conf'")
      expect(scriptSettings(script)).toMatchObject({NATS_INSTALL: 'true', NATS_VERSION: '2.10.24'})
      expect(scriptSettings(script).NATS_DOWNLOAD_URL).toBe(
        'https://github.com/nats-io/nats-server/releases/download/v2.10.24/nats-server-v2.10.24-linux-{arch}.tar.gz',
      )
      // embedded mode's route credentials are in node-info; system mode's only in nats.conf
      expect(JSON.parse(parsed.files['/etc/nimsforest/node-info.json'].content).cluster_auth).toBeUndefined()
    } else {
      expect(parsed.files['/etc/nats/nats.conf']).toBeUndefined()
      expect(parsed.files['/etc/systemd/system/nats.service']).toBeUndefined()
      expect(unit).not.toContain('nats.service')
      expect(unit).not.toContain('NATS_URL')
      expect(script).not.toContain('nats-server')
      expect(parsed.files['/etc/nimsforest/node-info.json'].permissions).toBe('0600')
      expect(JSON.parse(parsed.files['/etc/nimsforest/node-info.json'].content).cluster_auth).toEqual({
        password: 'route-secret-1',
        user: 'forest-route',
      })
    }
  })

  test('the registry: a read-only CIFS mount of its folder with a root-only credentials file, or the file itself', () => {
    const unit = parsed.files['/etc/systemd/system/nimsforest.service'].content
    expect(text).not.toContain('fstab')
    if (storageBox) {
      const cred = parsed.files['/etc/morpheus/storagebox.credentials']
      expect(cred.permissions).toBe('0600')
      expect(cred.owner).toBe('root:root')
      expect(cred.content).toBe(`username=u123456-sub1\npassword=${NODE_PASSWORD}\n`)
      // the node account's password is in that file and nowhere else; the registry's own is nowhere
      expect(text.split(NODE_PASSWORD)).toHaveLength(2)
      expect(text).not.toContain(SB_PASSWORD)
      const mount = parsed.files['/etc/systemd/system/mnt-forest.mount'].content
      // the sub-account's own share, whose top is its home directory: the registry's folder
      expect(mount).toMatch(/^What=\/\/u123456-sub1\.your-storagebox\.de\/u123456-sub1$/m)
      expect(mount).toMatch(/^Where=\/mnt\/forest$/m)
      expect(mount).toMatch(/^Type=cifs$/m)
      expect(mount).toMatch(/^Options=ro,seal,credentials=\/etc\/morpheus\/storagebox\.credentials,/m)
      expect(systemdVerify(mount, 'mnt-forest.mount')).not.toMatch(/Invalid|ignoring|Unknown (key|section)/)
      expect(unit).toMatch(/^RequiresMountsFor=\/mnt\/forest$/m)
      expect(parsed.files['/mnt/forest/registry.json']).toBeUndefined()
      expect(parsed.files['/usr/local/sbin/morpheus-bootstrap'].content).toContain(
        'systemctl enable --now mnt-forest.mount\nsystemctl enable --now morpheus-firewall-sync.timer',
      )
      for (const f of SYNC_FILES) expect(parsed.files[f]).toBeDefined()
      expect(parsed.files['/usr/local/sbin/morpheus-firewall-sync'].permissions).toBe('0700')
    } else {
      expect(text).not.toContain('cifs')
      for (const f of SYNC_FILES) expect(parsed.files[f]).toBeUndefined()
      expect(unit).not.toContain('RequiresMountsFor')
      const registry = JSON.parse(parsed.files['/mnt/forest/registry.json'].content)
      const entry = (i: number) => ({
        forest_id: 'forest-1700000000',
        id: `node-${i}`,
        ip: `2001:db8:0:${i}::1`,
        ipv6: `2001:db8:0:${i}::1`,
        ...(ipv4 ? {ipv4: `203.0.113.${i}`} : {}),
      })
      expect(registry).toEqual({nodes: {'forest-1700000000': [entry(2), entry(1), entry(3)]}})
    }
  })

  test("host firewall: routes from any address with credentials (system), else from the forest's nodes only; monitoring from nodes and operators, SSH from operators, no client port", () => {
    const rules = firewallRules(parsed.files['/usr/local/sbin/morpheus-bootstrap'].content)
    const nodes = [2, 1, 3].flatMap((i) => [`2001:db8:0:${i}::1`, ...(ipv4 ? [`203.0.113.${i}`] : [])])
    // System mode routes carry the forest's credentials: a node grow adds later must get in without a
    // rule change. Embedded NATS has no route authentication: only the addresses known at boot.
    const routesOpen = mode === 'system'
    const expected = [
      'default deny incoming',
      'default allow outgoing',
      ...(routesOpen ? ['allow proto tcp to any port 6222 comment morpheus: NATS routes (credentials required)'] : []),
      ...nodes.flatMap((a) => [
        ...(routesOpen ? [] : [`allow proto tcp from ${a} to any port 6222 comment morpheus: NATS routes`]),
        `allow proto tcp from ${a} to any port 8222 comment morpheus: NATS monitoring`,
      ]),
      ...['198.51.100.0/24', '2001:db8:ffff::/48'].flatMap((c) => [
        `allow proto tcp from ${c} to any port 22 comment morpheus: SSH`,
        `allow proto tcp from ${c} to any port 8222 comment morpheus: NATS monitoring`,
      ]),
      '--force enable',
    ]
    expect(rules).toEqual(expected)
    expect(rules.join('\n')).not.toContain('4222')
  })
})

const SYNC_FILES = [
  '/etc/morpheus/firewall.json',
  '/usr/local/sbin/morpheus-firewall-sync',
  '/etc/systemd/system/morpheus-firewall-sync.service',
  '/etc/systemd/system/morpheus-firewall-sync.timer',
]

/**
 * Run the node's firewall sync (python3, as the node would) against `registry`, with its config
 * pointed at scratch files and a recording `ufw` first on PATH. Returns the ufw calls.
 */
function firewallSync(
  files: Parsed['files'],
  registry: unknown,
  state?: string[],
  dir = mkdtempSync(join(tmpdir(), 'morpheus-sync-')),
): {calls: string[]; state: string[]; dir: string} {
  const config = JSON.parse(files['/etc/morpheus/firewall.json'].content)
  writeFileSync(join(dir, 'registry.json'), typeof registry === 'string' ? registry : JSON.stringify(registry))
  if (state) writeFileSync(join(dir, 'state.json'), JSON.stringify(state))
  writeFileSync(join(dir, 'config.json'), JSON.stringify({...config, registry: join(dir, 'registry.json'), state: join(dir, 'state.json')}))
  writeFileSync(join(dir, 'sync.py'), files['/usr/local/sbin/morpheus-firewall-sync'].content)
  mkdirSync(join(dir, 'bin'), {recursive: true})
  writeFileSync(join(dir, 'bin', 'ufw'), `#!/bin/bash\nprintf '%s\\n' "$*" >> '${join(dir, 'calls')}'\n`, {mode: 0o755})
  writeFileSync(join(dir, 'calls'), '')
  const r = bash(`PATH='${join(dir, 'bin')}':$PATH /usr/bin/python3 '${join(dir, 'sync.py')}' '${join(dir, 'config.json')}'`)
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  let saved: string[]
  try {
    saved = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'))
  } catch {
    saved = []
  }
  return {calls: readFileSync(join(dir, 'calls'), 'utf8').split('\n').filter(Boolean), dir, state: saved}
}

describe("the nats unit's stop, on a real nats-server", () => {
  // What systemd does on `systemctl stop`, a shutdown (shrink, upgrade) or a reboot: the unit's KillSignal to the
  // server of the user data's nats.conf, with a client connected; SIGKILL only after TimeoutStopSec.
  test('KillSignal puts nats-server into lame duck mode (the client is told), and it exits cleanly well within TimeoutStopSec', async () => {
    const {connect} = await import('@nats-io/transport-node')
    const {localise} = await import('../../fixtures/hetzner-sim/boot.js')
    const {spawn} = await import('node:child_process')
    const {files} = parse(renderer.userData(input('system', true, {cluster: false, peers: []})))
    const unit = files['/etc/systemd/system/nats.service'].content
    const killSignal = /^KillSignal=(\S+)$/m.exec(unit)?.[1] as NodeJS.Signals
    const stopMs = Number(/^TimeoutStopSec=(\d+)s$/m.exec(unit)?.[1]) * 1000
    expect(killSignal).toBe('SIGUSR2')
    const dir = mkdtempSync(join(tmpdir(), 'nats-unit-'))
    const address = `127.${20 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`
    const port = 30000 + Math.floor(Math.random() * 20000)
    // Bound to a loopback address and ports of its own, its files in a temp directory (as the Hetzner simulator boots it).
    const conf = localise(files['/etc/nats/nats.conf'].content, address, dir)
      .replace(/:4222"/, `:${port}"`)
      .replace(/(http: ".*?):8222"/, `$1:${port + 1}"`)
    writeFileSync(join(dir, 'nats.conf'), conf, {mode: 0o600})
    const server = spawn('nats-server', ['-c', join(dir, 'nats.conf')], {stdio: 'ignore'})
    const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) =>
      server.once('exit', (code, signal) => resolve({code, signal})),
    )
    try {
      let nc
      for (let i = 0; !nc; i++) {
        try {
          nc = await connect({maxReconnectAttempts: 0, servers: `nats://${address}:${port}`})
        } catch (error) {
          if (i > 50) throw error
          await new Promise((r) => setTimeout(r, 100))
        }
      }
      const events: string[] = []
      void (async () => {
        for await (const s of nc.status()) events.push(s.type)
      })()
      const started = Date.now()
      server.kill(killSignal)
      const end = await Promise.race([exited, new Promise((r) => setTimeout(r, stopMs, 'timeout'))])
      const took = Date.now() - started
      // A clean exit (status 0: systemd records a successful stop), not death by the signal, long before systemd's SIGKILL.
      expect(end).toEqual({code: 0, signal: null})
      expect(took).toBeLessThan(stopMs)
      await nc.closed()
      // The client was told the server is in lame duck mode before it was closed.
      expect(events).toContain('ldm')
      expect(events.indexOf('ldm')).toBeLessThan(events.indexOf('disconnect'))
    } finally {
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL')
      rmSync(dir, {force: true, recursive: true})
    }
  }, 60_000)
})

describe('userData', () => {
  test("system mode without route credentials: routes only from the forest's nodes", () => {
    const {files} = parse(renderer.userData(input('system', false, {clusterAuth: null})))
    const rules = firewallRules(files['/usr/local/sbin/morpheus-bootstrap'].content)
    expect(rules.filter((l) => l.includes('port 6222'))).toEqual(
      [2, 1, 3].map((i) => `allow proto tcp from 2001:db8:0:${i}::1 to any port 6222 comment morpheus: NATS routes`),
    )
  })

  test.each(['embedded', 'system'] as const)(
    'with the registry mounted, the host firewall follows it (%s): grown nodes admitted, gone ones removed, junk ignored',
    (mode) => {
      // In system mode the route port is open already (credentials): the sync handles monitoring only.
      const synced = mode === 'system' ? [8222] : [6222, 8222]
      const what: Record<number, string> = {6222: 'NATS routes', 8222: 'NATS monitoring'}
      for (const ipv4 of [true, false]) {
        const {files} = parse(sbRenderer.userData(input(mode, ipv4)))
        expect(
          systemdVerify(files['/etc/systemd/system/morpheus-firewall-sync.timer'].content, 'morpheus-firewall-sync.timer'),
        ).not.toMatch(/Invalid|ignoring|Unknown (key|section)/)
        const forest = 'forest-1700000000'
        const boot = [1, 2, 3].map((i) => node(i, ipv4))
        // nothing new: no call, no state
        const first = firewallSync(files, {nodes: {[forest]: boot}})
        expect(first.calls).toEqual([])
        // grow added node-4 (and someone wrote junk and another forest's node)
        const grown = {
          nodes: {
            [forest]: [...boot, node(4, true), {id: 'junk', ip: '1.2.3.4; ufw disable', ipv6: '$(reboot)'}, 'not a node'],
            other: [node(9, true)],
          },
        }
        const second = firewallSync(files, grown, undefined, first.dir)
        const added = ['2001:db8:0:4::1', ...(ipv4 ? ['203.0.113.4'] : [])]
        expect(second.calls).toEqual(
          added.flatMap((a) => synced.map((port) => `allow proto tcp from ${a} to any port ${port} comment morpheus: ${what[port]}`)),
        )
        expect(second.state).toEqual(added.sort())
        // a second run changes nothing
        writeFileSync(join(first.dir, 'calls'), '')
        expect(firewallSync(files, grown, undefined, first.dir).calls).toEqual([])
        // node-4 is gone: its rules go
        const third = firewallSync(files, {nodes: {[forest]: boot}}, undefined, first.dir)
        expect(third.calls).toEqual(added.flatMap((a) => synced.map((port) => `delete allow proto tcp from ${a} to any port ${port}`)))
        expect(third.state).toEqual([])
        // an unreadable registry (not mounted, half written) changes nothing
        expect(firewallSync(files, '{"nodes": {', undefined, first.dir).calls).toEqual([])
        rmSync(first.dir, {force: true, recursive: true})
      }
    },
  )

  test('hostile ids, route credentials, SSH key and download URL inject nothing in any file', async () => {
    const evil = HOSTILE.filter((v) => v !== '' && !v.includes('\0')).join('|')
    const auth: ClusterAuth = {password: `pw ${evil}`, user: `u ${evil}`}
    const settings: BootstrapSettings = {
      ...bootstrapSettings({
        integration: {nimsforest_download_url: `https://example.invalid/$(touch${'${IFS}'}/tmp/x)'"{{a}}#}/forest-{arch}`},
        nodeAccess: storageBoxAccess,
      }),
    }
    const r = await createRenderer({bootstrap: settings})
    for (const mode of ['embedded', 'system'] as const) {
      const forestId = `forest ${evil}`
      const nodeId = `node ${evil}`
      const base = input(mode, true)
      const data: UserDataInput = {
        ...base,
        clusterAuth: auth,
        forest: {...base.forest, id: forestId},
        node: {...node(2, true, forestId), id: nodeId},
        peers: [{...node(1, true, forestId), id: `peer ${evil}`}],
        sshKeys: [`ssh-ed25519 AAAA ${evil}`],
      }
      const text = r.userData(data)
      expect(cloudInitSchema(text).ok).toBe(true)
      const {doc, files} = parse(text)
      // Only the keys Morpheus writes: nothing injected at the top level of the cloud-config.
      expect(Object.keys(doc).sort()).toEqual(['package_update', 'packages', 'runcmd', 'ssh_authorized_keys', 'write_files'])
      expect(doc.ssh_authorized_keys).toEqual([`ssh-ed25519 AAAA ${evil}`])
      const paths = [
        '/etc/nimsforest/node-info.json',
        '/etc/morpheus/storagebox.credentials',
        '/etc/systemd/system/mnt-forest.mount',
        '/etc/systemd/system/nimsforest.service',
        '/usr/local/sbin/morpheus-bootstrap',
        ...SYNC_FILES,
      ]
      if (mode === 'system') paths.splice(3, 0, '/etc/nats/nats.conf', '/etc/systemd/system/nats.service')
      expect(Object.keys(files).sort()).toEqual(paths.sort())
      const info = JSON.parse(files['/etc/nimsforest/node-info.json'].content)
      expect(info.forest_id).toBe(forestId)
      // the firewall sync finds this forest's nodes in a registry under the same hostile id
      const sync = firewallSync(files, {nodes: {[forestId]: [{id: 'n9', ip: '2001:db8:9::9'}], other: [{id: 'x', ip: '2001:db8:6::6'}]}})
      expect(sync.calls).toEqual([
        ...(mode === 'system' ? [] : ['allow proto tcp from 2001:db8:9::9 to any port 6222 comment morpheus: NATS routes']),
        'allow proto tcp from 2001:db8:9::9 to any port 8222 comment morpheus: NATS monitoring',
      ])
      expect(info.node_id).toBe(nodeId)
      const settingsSeen = scriptSettings(files['/usr/local/sbin/morpheus-bootstrap'].content)
      expect(settingsSeen.NIMSFOREST_URL).toBe(settings.nimsforest.url)
      expect(bashSyntax(files['/usr/local/sbin/morpheus-bootstrap'].content).ok).toBe(true)
      if (mode === 'system') {
        const conf = files['/etc/nats/nats.conf'].content
        const check = natsServerCheck(conf)
        expect(check.output).toContain('is valid')
        // the credentials only ever appear escaped: as nats.conf strings and URL-encoded in routes
        expect(conf).toContain(`password: ${natsQuote(auth.password)}\n`)
        expect(conf).toContain(`user: ${natsQuote(auth.user)}\n`)
        const route = /"(nats-route:\/\/[^"]+)"/.exec(conf)![1]
        expect(decodeURIComponent(new URL(route).password)).toBe(auth.password)
        expect(decodeURIComponent(new URL(route).username)).toBe(auth.user)
      } else {
        expect(info.cluster_auth).toEqual(auth)
      }
    }
  })

  test('a download URL with two or more single quotes: the bootstrap script reads it back exactly and runs nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'morpheus-quotes-'))
    const marker = join(dir, 'M')
    try {
      // No whitespace in a URL: ${IFS} is the space a command would need.
      for (const path of [`a'b'c`, `x';touch\${IFS}${marker};'`, `x'\${IFS}';touch\${IFS}${marker};'\${IFS}'`]) {
        const url = `https://example.invalid/${path}/forest-{arch}`
        const r = await createRenderer({bootstrap: bootstrapSettings({integration: {nimsforest_download_url: url}, nodeAccess: null})})
        for (const mode of ['embedded', 'system'] as const) {
          const script = parse(r.userData(input(mode, true))).files['/usr/local/sbin/morpheus-bootstrap'].content
          expect(scriptSettings(script).NIMSFOREST_URL).toBe(url)
          expect(bashSyntax(script).ok).toBe(true)
          expect(readdirSync(dir)).toEqual([])
        }
      }
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })

  test("the client port opens to the forest's nodes when client_local_only is false (system mode)", async () => {
    const r = await createRenderer({bootstrap: bootstrapSettings({integration: {client_local_only: false}})})
    const {files} = parse(r.userData(input('system', false)))
    expect(files['/etc/nats/nats.conf'].content).toContain('listen: "[::]:4222"')
    const rules = firewallRules(files['/usr/local/sbin/morpheus-bootstrap'].content)
    expect(rules).toContain('allow proto tcp from 2001:db8:0:1::1 to any port 4222 comment morpheus: NATS clients')
    expect(rules.filter((l) => l.includes('port 4222'))).toHaveLength(3)
  })

  test('a forest of one node: no cluster block, no routes, a valid nats.conf', () => {
    const {files} = parse(renderer.userData(input('system', true, {cluster: false, peers: []})))
    const conf = files['/etc/nats/nats.conf'].content
    expect(natsServerCheck(conf).ok).toBe(true)
    expect(conf).not.toMatch(/^cluster \{/m)
  })

  test('the sha256 check: a download whose digest differs is refused and removed, a matching one is moved in place', () => {
    const sha = 'a'.repeat(64)
    const {files} = parse(renderer.userData(input('embedded', true)))
    const script = files['/usr/local/sbin/morpheus-bootstrap'].content
    const download = /^download\(\) \{[\s\S]*?\n\}$/m.exec(script)![0]
    const dir = mkdtempSync(join(tmpdir(), 'morpheus-dl-'))
    try {
      // curl is replaced by one that "downloads" a known text
      const stub = `log() { echo "$*" >&2; }\ncurl() { local out; while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done; printf 'binary' > "$out"; }\n${download}`
      const good = bash(`${stub}\ndownload https://x '${dir}/good' "$(printf binary | sha256sum | cut -d' ' -f1)"; echo rc=$?`)
      expect(good.stdout).toContain('rc=0')
      const bad = bash(`${stub}\ndownload https://x '${dir}/bad' ${sha}; echo rc=$?`)
      expect(bad.stdout).not.toContain('rc=')
      expect(bad.stderr).toContain(`sha256 of https://x is not ${sha}`)
      const none = bash(`${stub}\ndownload https://x '${dir}/none' ''; echo rc=$?`)
      expect(none.stdout).toContain('rc=0')
      expect(bash(`ls '${dir}'`).stdout.split('\n').filter(Boolean).sort()).toEqual(['good', 'none'])
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })

  test('a configured sha256 reaches the script', async () => {
    const r = await createRenderer({
      bootstrap: bootstrapSettings({integration: {nats_sha256: 'B'.repeat(64), nimsforest_sha256: 'A'.repeat(64)}}),
    })
    const script = parse(r.userData(input('system', true))).files['/usr/local/sbin/morpheus-bootstrap'].content
    expect(scriptSettings(script)).toMatchObject({NATS_SHA256: 'b'.repeat(64), NIMSFOREST_SHA256: 'a'.repeat(64)})
  })

  test('more than 32 KiB is refused with a clear error', () => {
    const keys = Array.from({length: 400}, (_, i) => `ssh-ed25519 ${'A'.repeat(68)} key-${i}`)
    let error: any
    try {
      renderer.userData(input('system', true, {sshKeys: keys}))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(MorpheusError)
    expect(error.kind).toBe('CONFIG')
    expect(error.message).toMatch(/^the user data of node node-2 is \d+ bytes, more than the 32 KiB \(32768 bytes\) a cloud accepts$/)
    expect(error.hint).toContain('SSH keys')
  })

  test('a bad operator CIDR or a node without a route address is an error, not a broken rule', () => {
    expect(() => renderer.userData(input('embedded', true, {operatorCidrs: ['0.0.0.0/0; ufw disable']}))).toThrow(/not an address or CIDR/)
    expect(() => renderer.userData(input('embedded', true, {operatorCidrs: ['10.0.0.0/33']}))).toThrow(/not an address or CIDR/)
    expect(() => renderer.userData(input('embedded', true, {node: {...node(2, true), ip: ''}}))).toThrow(/no route address/)
  })

  test('route TLS (system mode): the CA, certificate and key are written, the key root-only, and nats.conf uses them', async () => {
    const pem = (label: string) => `-----BEGIN ${label}-----\nMIIB${label.length}\n-----END ${label}-----\n`
    const r = await createRenderer({
      bootstrap: {...bootstrapSettings(), routeTls: {ca: pem('CERTIFICATE'), cert: pem('CERTIFICATE'), key: pem('PRIVATE KEY')}},
    })
    const {files} = parse(r.userData(input('system', true)))
    expect(files['/etc/nats/tls/key.pem']).toMatchObject({content: pem('PRIVATE KEY'), permissions: '0600'})
    expect(files['/etc/nats/tls/ca.pem'].content).toBe(pem('CERTIFICATE'))
    const conf = files['/etc/nats/nats.conf'].content
    expect(conf).toMatch(
      /tls \{\n\s+ca_file: "\/etc\/nats\/tls\/ca.pem"\n\s+cert_file: "\/etc\/nats\/tls\/cert.pem"\n\s+key_file: "\/etc\/nats\/tls\/key.pem"\n\s+verify: true/,
    )
    // embedded mode: NimsForest runs its own NATS, no TLS files
    expect(Object.keys(parse(r.userData(input('embedded', true))).files).some((p) => p.includes('tls'))).toBe(false)
  })
})

test('bootstrap settings given as a function are read at the first userData only, and once', async () => {
  let calls = 0
  const r = await createRenderer({
    bootstrap: () => {
      calls++
      return bootstrapSettings({integration: {nimsforest_download_url: 'https://mirror.example/forest-{arch}'}})
    },
  })
  expect(
    r.natsConfig({
      bind: {client: '::', cluster: '::', monitor: '::'},
      files: {store_dir: '/x'},
      forest: {id: 'f'},
      node: {id: 'n', ip: '::1'},
      peers: [],
      ports,
    }),
  ).toContain('server_name')
  expect(calls).toBe(0)
  const first = parse(r.userData(input('embedded', true)))
  r.userData(input('system', true))
  expect(calls).toBe(1)
  expect(first.files['/usr/local/sbin/morpheus-bootstrap'].content).toContain("NIMSFOREST_URL='https://mirror.example/forest-{arch}'")
  // a config error surfaces at userData, not when the renderer is made
  const failing = await createRenderer({bootstrap: () => bootstrapSettings({integration: {nimsforest_sha256: 'nope'}})})
  expect(() => failing.userData(input('embedded', true))).toThrow(/integration\.nimsforest_sha256/)
})

describe('template directories', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'morpheus-tpl-'))
  })
  afterAll(() => rmSync(dir, {force: true, recursive: true}))

  test("an earlier directory's template and partial win; the core fills in the rest", async () => {
    const user = join(dir, 'user')
    const plugin = join(dir, 'plugin')
    mkdirSync(join(user, 'partials', 'cloud-init'), {recursive: true})
    mkdirSync(join(plugin, 'partials', 'cloud-init'), {recursive: true})
    writeFileSync(join(user, 'partials', 'cloud-init', 'tail.hbs'), 'runcmd:\n  - [echo, {{yaml node.id}}]\n')
    writeFileSync(join(plugin, 'partials', 'cloud-init', 'tail.hbs'), 'runcmd:\n  - [echo, plugin]\n')
    writeFileSync(join(plugin, 'only-plugin.hbs'), 'p')
    const r = await createRenderer({dirs: [user, plugin]})
    const {doc} = parse(r.userData(input('embedded', true)))
    expect(doc.runcmd).toEqual([['echo', 'node-2']])
    expect(r.list()).toEqual(['cloud-init/embedded', 'cloud-init/system', 'nats.conf', 'only-plugin'])
    const r2 = await createRenderer({dirs: [plugin]})
    expect(parse(r2.userData(input('embedded', true))).doc.runcmd).toEqual([['echo', 'plugin']])
  })

  test('strict: a user template that uses a variable the data lacks is an error naming it', async () => {
    const strict = join(dir, 'strict')
    mkdirSync(join(strict, 'cloud-init'), {recursive: true})
    writeFileSync(
      join(strict, 'cloud-init', 'embedded.hbs'),
      '#cloud-config\n{{> cloud-init/head}}\nx: {{yaml nimsforest.no_such_value}}\n',
    )
    const r = await createRenderer({dirs: [strict]})
    expect(() => r.userData(input('embedded', true))).toThrow(/"no_such_value" not defined/)
    // in a partial too
    mkdirSync(join(strict, 'partials', 'cloud-init'), {recursive: true})
    writeFileSync(join(strict, 'partials', 'cloud-init', 'head.hbs'), '{{missing_in_partial}}')
    const r2 = await createRenderer({dirs: [strict]})
    expect(() => r2.userData(input('embedded', true))).toThrow(/"missing_in_partial" not defined/)
  })
})
