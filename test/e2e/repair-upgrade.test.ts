// issue 17's proof on real nats-server through the built CLI: while the official NATS client writes to
// an R3 and an R1 stream all the time (acked publishes), `repair` replaces a SIGKILLed node and
// `upgrade` moves every node to another nats-server binary, and afterwards every acked message is
// there, the forest is healthy and the R3 stream has three current replicas. Refusals too.
import {copyFileSync, mkdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {AckedWriter} from '../helpers/acked-writer.js'
import {Sandbox, running, waitFor} from '../helpers/cli.js'

const STREAMS = [
  {name: 'R3', replicas: 3},
  {name: 'R1', replicas: 1},
]

function nodePid(sb: Sandbox, forestId: string, nodeId: string): number {
  return JSON.parse(readFileSync(join(sb.dir, 'local', forestId, nodeId, 'node.json'), 'utf8')).pid
}

async function jsz(monitor: string): Promise<any> {
  return (await fetch(`${monitor}/jsz?accounts=true&streams=true&config=true`)).json()
}

/** The R3 stream as its leader sees it: three replicas, all current. */
async function r3Current(nodes: Array<{id: string; monitor: string}>): Promise<boolean> {
  for (const n of nodes) {
    const body = await jsz(n.monitor).catch(() => ({}))
    for (const a of body.account_details ?? []) {
      for (const s of a.stream_detail ?? []) {
        if (s.name === 'R3' && s.cluster?.leader === n.id)
          return (s.cluster.replicas ?? []).length === 2 && s.cluster.replicas.every((r: any) => r.current)
      }
    }
  }
  return false
}

describe('repair and upgrade of a local forest under acked writes, through the built CLI', () => {
  let sb: Sandbox
  let forestId = ''
  let nodes: Array<{id: string; monitor: string; client: string}> = []
  let writer: AckedWriter | undefined
  let writer2: AckedWriter | undefined

  beforeAll(async () => {
    sb = new Sandbox()
    const planted = await sb.json(['plant', 'local', 'medium'])
    forestId = planted.forest.id
    nodes = planted.nodes
    expect(planted.forest.versions).toEqual({nats: expect.stringMatching(/^\d+\.\d+\.\d+/), nats_source: expect.stringMatching(/^\//)})
  }, 120_000)
  afterAll(async () => {
    await writer?.close().catch(() => undefined)
    await writer2?.close().catch(() => undefined)
    await sb.cleanup()
  })

  test('repair: a SIGKILLed node gets its machine back (same id, address, store dir); no acked message lost, healthy, R3 current', async () => {
    writer = await AckedWriter.start({servers: nodes.map((n) => n.client), streams: STREAMS})
    await writer.waitForAcks(100)
    const victim = nodes[1]
    const pid = nodePid(sb, forestId, victim.id)
    process.kill(pid, 'SIGKILL')
    await waitFor(() => !running(pid), 10_000)
    await writer.waitForAcks(50) // the R3 stream goes on with two of three

    const dry = await sb.json(['repair', forestId, '--dry-run'])
    expect(dry).toMatchObject({dead: [victim.id], replaced: [], status: 'dry_run'})
    const refused = await sb.runJson(['repair', forestId]) // no --yes, no terminal
    expect(refused.code).toBe(2)

    const result = await sb.json(['repair', forestId, '--yes'])
    expect(result).toMatchObject({dead: [victim.id], remaining: [], replaced: [victim.id], status: 'repaired'})
    const r3 = result.streams.find((s: any) => s.name === 'R3')
    expect(r3).toMatchObject({current: true, replicas: 3})
    expect(r3.followers).toHaveLength(2)
    const after = result.nodes.find((n: any) => n.id === victim.id)
    expect(after).toMatchObject({ip: (victim as any).ip, status: 'active', versions: sb.registry().forests[forestId].versions})
    expect(nodePid(sb, forestId, victim.id)).not.toBe(pid)
    // The new machine keeps the forest's system-account user (shrink administers JetStream with it).
    expect(readFileSync(join(sb.dir, 'local', forestId, victim.id, 'nats.conf'), 'utf8')).toMatch(/system_account: "SYS"/)

    await writer.waitForAcks(100)
    expect(await sb.settled(forestId)).toEqual({health: 'healthy', problems: []})
    expect(sb.registry().forests[forestId].operation).toBeNull()
    expect(await r3Current(nodes)).toBe(true)
    // verify() reads what was acked until stop(): the writer stops first.
    await writer.stop()
    const report = await writer.verify()
    for (const r of report) {
      expect({missing: r.missing, stream: r.stream}).toEqual({missing: [], stream: r.stream})
      expect(r.acked).toBeGreaterThan(50)
    }
  }, 300_000)

  test('upgrade: every node, one at a time, to another nats-server binary; no acked message lost, healthy, versions recorded', async () => {
    const before = sb.registry().forests[forestId].versions
    const bin = join(sb.dir, 'nats-builds')
    mkdirSync(bin)
    const copy = join(bin, 'nats-server-next')
    copyFileSync(before.nats_source, copy)
    copyFileSync(before.nats_source, join(bin, 'unused'))
    const {chmodSync} = await import('node:fs')
    chmodSync(copy, 0o755)
    // New streams for this phase, written all the time; the repair phase's streams must survive too.
    writer2 = await AckedWriter.start({
      servers: nodes.map((n) => n.client),
      streams: [
        {name: 'U3', replicas: 3},
        {name: 'U1', replicas: 1},
      ],
    })
    await writer2.waitForAcks(50)

    const dry = await sb.json(['upgrade', forestId, '--nats', copy, '--dry-run'])
    expect(dry.status).toBe('dry_run')
    const result = await sb.json(['upgrade', forestId, '--nats', copy, '--yes'])
    expect(result).toMatchObject({status: 'upgraded', target: {nats: before.nats, nats_source: copy}})
    expect([...result.upgraded].sort()).toEqual(['node-1', 'node-2', 'node-3'])
    expect(result.versions_by_node).toEqual({[`nats-server ${before.nats} (${copy})`]: ['node-1', 'node-2', 'node-3']})
    const doc = sb.registry()
    expect(doc.forests[forestId]).toMatchObject({operation: null, versions: {nats: before.nats, nats_source: copy}})
    expect(doc.nodes[forestId].map((n: any) => n.versions.nats_source)).toEqual([copy, copy, copy])
    // The processes run the new binary.
    for (const n of doc.nodes[forestId])
      expect(readFileSync(`/proc/${nodePid(sb, forestId, n.id)}/cmdline`, 'utf8').split('\0')[0]).toBe(copy)
    for (const n of doc.nodes[forestId])
      expect(readFileSync(join(sb.dir, 'local', forestId, n.id, 'nats.conf'), 'utf8')).toMatch(/system_account: "SYS"/)

    expect((await sb.run(['status', forestId])).stdout).toContain(`Versions: nats-server ${before.nats} (${copy})`)
    // Again: nothing to do.
    expect((await sb.json(['upgrade', forestId, '--nats', copy, '--yes'])).status).toBe('up_to_date')
    await writer2.waitForAcks(100)
    expect(await sb.settled(forestId)).toEqual({health: 'healthy', problems: []})
    expect(await r3Current(nodes)).toBe(true)
    await writer2.stop()
    for (const r of [...(await writer2.verify()), ...(await writer!.verify())]) {
      expect({missing: r.missing, stream: r.stream}).toEqual({missing: [], stream: r.stream})
      expect(r.acked).toBeGreaterThan(50)
    }
  }, 300_000)

  test('grow after the upgrade makes its node of the recorded binary, not the default', async () => {
    const versions = sb.registry().forests[forestId].versions
    const grown = await sb.json(['grow', forestId, '--auto', '--threshold', '0'])
    expect(grown).toMatchObject({action: {node_id: 'node-4'}, status: 'expanded'})
    const doc = sb.registry()
    const node4 = doc.nodes[forestId].find((n: any) => n.id === 'node-4')
    expect(node4?.versions).toEqual(versions)
    expect(readFileSync(`/proc/${nodePid(sb, forestId, 'node-4')}/cmdline`, 'utf8').split('\0')[0]).toBe(versions.nats_source)
  }, 180_000)

  test('repair refuses when a majority does not answer, replacing nothing; --auto reports it (exit 0)', async () => {
    const doc = sb.registry()
    const ids = doc.nodes[forestId].map((n: any) => n.id)
    const victims = ids.slice(0, Math.floor(ids.length / 2) + 1)
    const pids = victims.map((id: string) => nodePid(sb, forestId, id))
    for (const pid of pids) process.kill(pid, 'SIGKILL')
    await waitFor(() => pids.every((p: number) => !running(p)), 10_000)
    const refused = await sb.runJson(['repair', forestId, '--yes'])
    expect(refused.code).toBe(2)
    expect(refused.out.error.message).toMatch(new RegExp(`${victims.length} of ${ids.length} nodes .* do not answer`))
    const auto = await sb.json(['repair', forestId, '--auto'])
    expect(auto).toMatchObject({reason: 'majority_unreachable', replaced: [], status: 'refused'})
    for (const id of victims) expect(nodePid(sb, forestId, id)).toBe(pids[victims.indexOf(id)])
  }, 120_000)
})

describe('repair interrupted by Ctrl-C, through the built CLI', () => {
  let sb: Sandbox
  beforeAll(() => {
    sb = new Sandbox()
  })
  afterAll(async () => sb.cleanup())

  test('Ctrl-C halfway: exit 130, the registry says so (operation cleared, a note); a re-run finishes: healthy, the node active', async () => {
    const planted = await sb.json(['plant', 'local', 'medium'])
    const forestId = planted.forest.id
    const pid = nodePid(sb, forestId, 'node-2')
    process.kill(pid, 'SIGKILL')
    await waitFor(() => !running(pid), 10_000)
    const child = sb.spawn(['repair', forestId, '--yes'])
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += d))
    child.stdout!.resume()
    await waitFor(() => /node-2: replacing its machine/.test(stderr), 30_000)
    child.kill('SIGINT')
    const code = await new Promise((resolve) => child.on('close', resolve))
    expect(code).toBe(130)
    const forest = sb.registry().forests[forestId]
    expect(forest.operation).toBeNull()
    expect(forest.note).toMatch(/^repair interrupted/)
    const again = await sb.json(['repair', forestId, '--yes'])
    expect(again.status).toBe('repaired')
    const doc = sb.registry()
    expect(doc.nodes[forestId].map((n: any) => n.status)).toEqual(['active', 'active', 'active'])
    expect(doc.forests[forestId].operation).toBeNull()
    expect(await sb.settled(forestId)).toEqual({health: 'healthy', problems: []})
  }, 180_000)
})
