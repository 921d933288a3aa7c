// The forwarders of the real-node tests (test/fixtures/real-nodes/clients.ts), without booting Debian: each
// "machine" is a real nats-server alone in a network namespace of its own (`unshare --net`), listening on that
// namespace's 127.0.0.1:4222, which the host cannot reach. A NATS client reaches it through the host port of its
// name; a machine replaced under the same name is followed; a missing one is refused; close() ends every forwarder.
// Needs root (network namespaces); the real-node file proves the same on real machines.
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {connect as tcpConnect} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {NodeClients} from '../../fixtures/real-nodes/clients.js'
import {connectClient} from '../../helpers/acked-writer.js'
import {waitFor} from '../../helpers/cli.js'

const ROOT_USER = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v unshare && command -v nats-server']).status === 0
/** Every nats-server started here (stopped in afterAll, whatever a test did). */
const started: ChildProcess[] = []

interface FakeMachine {
  request: {name: string}
  stopping: boolean
  child: ChildProcess
}

/** nats-server named `serverName` on 127.0.0.1:4222 of a new network namespace (the pid is nats-server's: unshare execs). */
async function machine(name: string, serverName: string, dir: string): Promise<FakeMachine> {
  const child = spawn(
    'unshare',
    [
      '--net',
      'sh',
      '-c',
      'ip link set lo up && exec nats-server -a 127.0.0.1 -p 4222 -n "$0" -js -sd "$1"',
      serverName,
      join(dir, serverName),
    ],
    {stdio: 'ignore'},
  )
  started.push(child)
  // Up once its 4222 answers inside the namespace.
  await waitFor(
    () =>
      spawnSync('nsenter', [`--net=/proc/${child.pid}/ns/net`, 'bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/4222'], {stdio: 'ignore'})
        .status === 0,
    15_000,
    100,
  )
  return {child, request: {name}, stopping: false}
}

async function serverName(url: string): Promise<string | undefined> {
  const nc = await connectClient([url], {ignoreClusterUpdates: true})
  try {
    return nc.info?.server_name
  } finally {
    await nc.close()
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const gone = new Promise((r) => child.once('exit', r))
  child.kill('SIGKILL')
  await gone
}

;(ROOT_USER ? describe : describe.skip)('NodeClients: host ports into network namespaces, following machines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'node-clients-'))
  const machines = new Map<number, FakeMachine>()
  const booter = {
    initPid: (m: FakeMachine) => {
      if (m.child.exitCode !== null || m.child.signalCode !== null) throw new Error(`${m.request.name} is not running`)
      return m.child.pid!
    },
    machines,
  }
  const clients = new NodeClients(booter, {dir: join(dir, 'sockets')})

  afterAll(async () => {
    await clients.close()
    await Promise.all(started.map(stop))
    rmSync(dir, {force: true, recursive: true})
  })

  test('a client reaches the 127.0.0.1:4222 of the machine of a name; the host cannot reach it directly', async () => {
    const a = await machine('node-a', 'first-a', dir)
    machines.set(1, a)
    const url = await clients.url('node-a')
    expect(url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/)
    expect(await serverName(url)).toBe('first-a')
    expect(clients.serving('node-a')).toBe(a.child.pid)
    expect(await clients.url('node-a')).toBe(url)
    // The host's own 127.0.0.1:4222 is not that server (it lives in its namespace only).
    const direct = await serverName('nats://127.0.0.1:4222').catch(() => 'nothing there')
    expect(direct).not.toBe('first-a')
  })

  test('a machine replaced under the same name: the same port leads to the new one, and the old forwarder ends', async () => {
    const url = await clients.url('node-a')
    const old = machines.get(1)!
    const oldForwarders = clients.running
    expect(oldForwarders).toHaveLength(1)
    await stop(old.child)
    // While no machine of that name runs, a connection is closed at once (a client fails over elsewhere).
    await expect(serverName(url)).rejects.toThrow()
    expect(clients.refused.at(-1)).toMatch(/^node-a: .*not running/)
    // The replacement: another machine (another pid) with the same name; the old one is being removed.
    old.stopping = true
    machines.set(2, await machine('node-a', 'second-a', dir))
    expect(await serverName(url)).toBe('second-a')
    expect(clients.serving('node-a')).toBe(machines.get(2)!.child.pid)
    await waitFor(() => clients.running.length === 1 && !clients.running.includes(oldForwarders[0]), 10_000, 50)
    machines.delete(1)
  })

  test('one client over several names fails over when its machine goes', async () => {
    machines.set(3, await machine('node-b', 'first-b', dir))
    const servers = [await clients.url('node-a'), await clients.url('node-b')]
    const nc = await connectClient(servers, {ignoreClusterUpdates: true})
    try {
      const first = nc.info!.server_name
      expect(['second-a', 'first-b']).toContain(first)
      const id = [...machines].find(
        ([, m]) => m.child.exitCode === null && m.request.name === (first === 'second-a' ? 'node-a' : 'node-b'),
      )![0]
      await stop(machines.get(id)!.child)
      await waitFor(() => nc.info?.server_name !== undefined && nc.info.server_name !== first, 20_000, 100)
      expect(nc.info!.server_name).toBe(first === 'second-a' ? 'first-b' : 'second-a')
    } finally {
      await nc.close()
    }
  })

  test('close() ends every forwarder and closes the host ports', async () => {
    const url = await clients.url('node-a')
    const pids = clients.running
    expect(pids.length).toBeGreaterThan(0)
    await clients.close()
    expect(clients.running).toEqual([])
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow()
    const port = Number(new URL(url).port)
    const refused = await new Promise<boolean>((resolve) => {
      const s = tcpConnect(port, '127.0.0.1')
      s.once('connect', () => resolve(false))
      s.once('error', () => resolve(true))
    })
    expect(refused).toBe(true)
  })
})
