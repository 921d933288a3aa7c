// The SSH tunnel to a node's NATS client port (resources/ssh-tunnel.ts) against a real OpenSSH server and a real
// nats-server, both on 127.0.0.1: JetStream through it with the official client, and SSH's refusals (a key the node
// does not have, a host key that changed for the same server) as clear errors. Needs root (the tunnel logs in as
// root, as on Hetzner), sshd and ssh (.ci/run installs openssh-server and openssh-client).
import {jetstream, jetstreamManager} from '@nats-io/jetstream'
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {connectForest} from '../../../src/jetstream/connect.js'
import {startCluster, type TestCluster} from '../../../test/helpers/nats-cluster.js'
import {freePort} from '../../../test/helpers/nats.js'
import {waitFor} from '../../../test/helpers/cli.js'
import {knownHostsFile, openTunnel, type SshTarget} from '../src/resources/ssh-tunnel.js'

describe('the SSH tunnel to a node’s client port (a real sshd and nats-server on 127.0.0.1)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssh-tunnel-'))
  let sshd: ChildProcess
  let sshPort: number
  let cluster: TestCluster
  let natsPort: number
  let natsHost: string
  let knownHosts: string

  function keygen(name: string): string {
    const path = join(dir, name)
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path])
    return path
  }

  async function startSshd(hostKey: string): Promise<void> {
    const config = join(dir, 'sshd_config')
    writeFileSync(
      config,
      [
        `Port ${sshPort}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'StrictModes no',
        'UsePAM no',
        'AllowTcpForwarding yes',
        `PidFile ${join(dir, 'sshd.pid')}`,
      ].join('\n') + '\n',
    )
    mkdirSync('/run/sshd', {recursive: true})
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], {stdio: ['ignore', 'ignore', 'pipe']})
    let log = ''
    sshd.stderr!.on('data', (d) => (log += d))
    await waitFor(() => log.includes('Server listening') || sshd.exitCode !== null, 10_000, 50)
    if (sshd.exitCode !== null) throw new Error(`sshd exited: ${log}`)
  }

  async function stopSshd(): Promise<void> {
    if (!sshd || sshd.exitCode !== null) return
    const gone = new Promise((resolve) => sshd.once('exit', resolve))
    sshd.kill('SIGTERM')
    await gone
  }

  const target = (identity: string, alias = 'morpheus-forest-t-node-1-101'): SshTarget => ({
    address: '127.0.0.1',
    alias,
    identity,
    knownHosts,
    port: natsPort,
    portHost: natsHost,
    sshPort,
  })

  let key: string
  beforeAll(async () => {
    sshPort = await freePort('127.0.0.1')
    key = keygen('operator')
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${key}.pub`))
    await startSshd(keygen('host-a'))
    cluster = await startCluster(join(dir, 'nats'), 1)
    natsPort = Number(new URL(cluster.clients[0]).port)
    natsHost = new URL(cluster.clients[0]).hostname
    knownHosts = knownHostsFile({dataDir: join(dir, 'data')})
  }, 60_000)

  afterAll(async () => {
    await stopSshd()
    await cluster?.close()
    rmSync(dir, {force: true, recursive: true})
  })

  test('JetStream through the tunnel with the official client; the host key is kept (0600 file) under the server’s alias', async () => {
    const tunnel = await openTunnel(target(key), AbortSignal.timeout(30_000))
    expect(tunnel.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/)
    expect(Number(new URL(tunnel.url).port)).not.toBe(natsPort)
    const nc = await connectForest([tunnel.url], {name: 'tunnel test'})
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({name: 'TUNNEL', subjects: ['tunnel.>']})
    for (let i = 1; i <= 20; i++) await jetstream(nc).publish('tunnel.x', String(i))
    expect((await jsm.streams.info('TUNNEL')).state.messages).toBe(20)
    await jsm.streams.delete('TUNNEL')
    await nc.close()
    await tunnel.close()
    expect(statSync(knownHosts).mode & 0o777).toBe(0o600)
    expect(readFileSync(knownHosts, 'utf8')).toContain('morpheus-forest-t-node-1-101 ssh-ed25519 ')
    // Closed: nothing listens on its port any more.
    await expect(connectForest([tunnel.url], {name: 'closed'}).then((c) => c.close())).rejects.toThrow()
  }, 60_000)

  test('a key the node does not have: refused with SSH’s reason', async () => {
    const stranger = keygen('stranger')
    await expect(openTunnel(target(stranger), AbortSignal.timeout(30_000))).rejects.toThrow(/Permission denied \(publickey\)/)
  }, 60_000)

  test('a client port nothing answers on: refused, naming it', async () => {
    const closed = {...target(key), port: await freePort('127.0.0.1')}
    await expect(openTunnel(closed, AbortSignal.timeout(30_000))).rejects.toThrow(/client port did not answer/)
  }, 60_000)

  test('the same server with another host key is refused; a replaced server (a new alias) is trusted on first use', async () => {
    await stopSshd()
    await startSshd(keygen('host-b'))
    await expect(openTunnel(target(key), AbortSignal.timeout(30_000))).rejects.toThrow(/[Hh]ost key verification failed/)
    const tunnel = await openTunnel(target(key, 'morpheus-forest-t-node-1-102'), AbortSignal.timeout(30_000))
    await tunnel.close()
  }, 60_000)
})
