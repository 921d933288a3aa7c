// `morpheus shrink` (issue 17, item 3) through the built CLI on local forests of real nats-server:
// 4 → 3 nodes with the official client publishing to an R3 and an R1 stream all the time keeps
// every acked message and ends healthy; each refusal changes nothing; an interrupted shrink is
// finished by a re-run.
import {jetstreamManager} from '@nats-io/jetstream'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {AckedWriter, connectClient} from '../helpers/acked-writer.js'
import {Sandbox, nodeProcesses, waitFor} from '../helpers/cli.js'

const clientsOf = (sb: Sandbox, id: string): string[] => sb.registry().nodes[id].map((n: any) => `nats://${n.ip}:4222`)
const processesOf = (sb: Sandbox, id: string) => nodeProcesses(`${sb.dir}/local/${id}/`)

/** Where each stream's replicas are, by server name. */
async function placements(servers: string[]): Promise<Record<string, string[]>> {
  const nc = await connectClient(servers)
  try {
    const jsm = await jetstreamManager(nc)
    const out: Record<string, string[]> = {}
    for await (const s of jsm.streams.list())
      out[s.config.name] = [s.cluster?.leader ?? '', ...(s.cluster?.replicas ?? []).map((r) => r.name)].filter(Boolean).sort()
    return out
  } finally {
    await nc.close()
  }
}

describe('morpheus shrink', () => {
  let sb: Sandbox
  beforeAll(() => {
    sb = new Sandbox()
  })
  afterAll(async () => sb.cleanup())

  test('4 → 3 nodes while an R3 and an R1 stream are written all the time: every acked message is kept, the forest ends healthy', async () => {
    const planted = await sb.json(['plant', 'local', '--nodes', '4'])
    const id = planted.forest.id
    const writer = await AckedWriter.start({
      intervalMs: 10,
      servers: clientsOf(sb, id).slice(0, 3),
      streams: [
        {name: 'R3', replicas: 3},
        {name: 'R1', replicas: 1},
      ],
    })
    try {
      await writer.waitForAcks(150)
      // Remove the node that holds the R1 stream, so its only replica has to move.
      const where = await placements(clientsOf(sb, id))
      const node = where.R1[0]
      const r = await sb.runJson(['shrink', id, '--node', node, '--yes'], {timeoutMs: 240_000})
      if (r.code !== 0) throw new Error(`shrink exited ${r.code}\n${r.stdout}\n${r.stderr}`)
      expect(r.out).toMatchObject({picked: false, removed: {id: node}, resumed: false})
      expect(r.out.moved).toEqual(expect.arrayContaining([{replicas: 1, replicas_after: 1, stream: 'R1'}]))
      expect(r.out.nodes.map((n: any) => n.id)).not.toContain(node)
      expect(r.out.nodes).toHaveLength(3)
      expect(r.out.forest).toMatchObject({node_count: 3, operation: null})
      await writer.waitForAcks(100, 60_000)
      await writer.stop()
      const rest = clientsOf(sb, id)
      expect(rest).toHaveLength(3)
      const report = await writer.verify(rest)
      expect(report.map((x) => [x.stream, x.missing])).toEqual([
        ['R3', []],
        ['R1', []],
      ])
      expect(report.every((x) => x.acked >= 125)).toBe(true)
      const after = await placements(rest)
      expect(after.R3).toHaveLength(3)
      expect(after.R1).toHaveLength(1)
      expect([...after.R3, ...after.R1]).not.toContain(node)
      expect(await sb.settled(id)).toEqual({health: 'healthy', problems: []})
      const status = await sb.json(['status', id])
      expect(status.nodes.map((n: any) => n.health.routes)).toEqual([2, 2, 2])
      expect(processesOf(sb, id)).toHaveLength(3)
      // The meta group has the three nodes that remain, and only them.
      const leader = status.jetstream_leader
      const monitor = sb.registry().nodes[id].find((n: any) => n.id === leader)
      const meta = ((await (await fetch(`http://${monitor.ip}:8222/jsz`)).json()) as any).meta_cluster
      expect([meta.leader, ...meta.replicas.map((x: any) => x.name)].sort()).toEqual(
        sb
          .registry()
          .nodes[id].map((n: any) => n.id)
          .sort(),
      )
    } finally {
      await writer.close()
    }
  }, 360_000)

  test('refusals change nothing: R3 streams on three nodes (until --lower-replicas), one node left, no such node', async () => {
    const planted = await sb.json(['plant', 'local', 'medium'])
    const id = planted.forest.id
    const nc = await connectClient(clientsOf(sb, id))
    await (await jetstreamManager(nc)).streams.add({name: 'KEEP3', num_replicas: 3, subjects: ['keep3.>']})
    await nc.close()
    const before = readFileSync(sb.registryPath, 'utf8')
    const refused = await sb.runJson(['shrink', id, '--yes'])
    expect(refused.code).toBe(2)
    expect(refused.out.error.message).toContain('KEEP3 (R3)')
    expect(refused.out.error.message).toContain('nothing was changed')
    expect(refused.out.error.hint).toContain('--lower-replicas')
    expect(readFileSync(sb.registryPath, 'utf8')).toBe(before)
    expect(processesOf(sb, id)).toHaveLength(3)

    const missing = await sb.runJson(['shrink', id, '--node', 'node-9', '--yes'])
    expect(missing.code).toBe(6)
    expect(missing.out.error.message).toContain('node-1, node-2, node-3')

    const noTerminal = await sb.runJson(['shrink', id, '--lower-replicas'])
    expect(noTerminal.code).toBe(2)
    expect(noTerminal.out.error.message).toContain('without confirmation')
    expect(readFileSync(sb.registryPath, 'utf8')).toBe(before)

    // With --lower-replicas: the newest node goes, KEEP3 runs on two replicas.
    const lowered = await sb.json(['shrink', id, '--lower-replicas', '--yes'], {timeoutMs: 240_000})
    expect(lowered).toMatchObject({moved: [{replicas: 3, replicas_after: 2, stream: 'KEEP3'}], picked: true, removed: {id: 'node-3'}})
    expect((await placements(clientsOf(sb, id))).KEEP3).toEqual(['node-1', 'node-2'])

    // Down to one node, and no further.
    await sb.json(['shrink', id, '--lower-replicas', '--yes'], {timeoutMs: 240_000})
    expect(sb.registry().nodes[id].map((n: any) => n.id)).toEqual(['node-1'])
    const last = await sb.runJson(['shrink', id, '--yes'])
    expect(last.code).toBe(2)
    expect(last.out.error.message).toContain('never goes below one node')
    expect((await placements(clientsOf(sb, id))).KEEP3).toEqual(['node-1'])
    await sb.json(['teardown', id, '--yes'])
  }, 600_000)

  test('a forest without a system-account user (planted before Morpheus made one): shrink refuses with exit 5 and a hint', async () => {
    const planted = await sb.json(['plant', 'local', 'medium'])
    const id = planted.forest.id
    const file = join(sb.dir, 'registry.secrets.json')
    const secrets = JSON.parse(readFileSync(file, 'utf8'))
    delete secrets[id].system_user
    const {writeFileSync} = await import('node:fs')
    writeFileSync(file, JSON.stringify(secrets), {mode: 0o600})
    const r = await sb.runJson(['shrink', id, '--yes'])
    expect(r.code).toBe(5)
    expect(r.out.error.message).toContain('no system-account user')
    expect(r.out.error.hint).toContain('docs/shrink.md')
    expect(sb.registry().nodes[id]).toHaveLength(3)
    await sb.json(['teardown', id, '--yes'])
  }, 120_000)

  test('Ctrl-C during a shrink leaves the node recorded as being removed; a re-run finishes it', async () => {
    const planted = await sb.json(['plant', 'local', '--nodes', '4'])
    const id = planted.forest.id
    const writer = await AckedWriter.start({intervalMs: 10, servers: clientsOf(sb, id).slice(0, 3), streams: [{name: 'R3', replicas: 3}]})
    // A client of node-4's own: its lame duck then lasts its grace period (2 s) before it closes its clients, so the
    // Ctrl-C below lands while the node is stopping (a server with no client leaves lame duck in milliseconds, and
    // the shrink could finish before the signal arrived).
    const holder = await connectClient([clientsOf(sb, id)[3]], {ignoreClusterUpdates: true})
    try {
      await writer.waitForAcks(50)
      // Text mode: the progress lines on stderr say when it is stopping the node.
      const child = sb.spawn(['shrink', id, '--node', 'node-4', '--yes'])
      let stderr = ''
      child.stderr!.on('data', (d) => (stderr += d))
      let exited = false
      const closed = new Promise<number | null>((resolve) =>
        child.on('close', (c) => {
          exited = true
          resolve(c)
        }),
      )
      // Interrupt once it is stopping the node (lame duck takes a few seconds).
      await waitFor(() => exited || stderr.includes('lame duck mode'), 180_000, 50)
      expect({exited, stderr}).toEqual({exited: false, stderr: expect.stringContaining('lame duck mode')})
      child.kill('SIGINT')
      expect(await closed).toBe(130)
      expect(stderr).toContain(`morpheus shrink ${id}\` again to finish removing node-4`)
      const doc = sb.registry()
      expect(doc.forests[id].operation).toBeNull()
      expect(doc.nodes[id].find((n: any) => n.id === 'node-4').status).toBe('deleting')
      const again = await sb.json(['shrink', id, '--yes'], {timeoutMs: 240_000})
      expect(again).toMatchObject({removed: {id: 'node-4'}, resumed: true})
      expect(sb.registry().nodes[id].map((n: any) => n.id)).toEqual(['node-1', 'node-2', 'node-3'])
      await writer.waitForAcks(50, 60_000)
      await writer.stop()
      expect((await writer.verify(clientsOf(sb, id))).map((x) => x.missing)).toEqual([[]])
      expect(await sb.settled(id)).toEqual({health: 'healthy', problems: []})
    } finally {
      await holder.close()
      await writer.close()
    }
  }, 480_000)
})
