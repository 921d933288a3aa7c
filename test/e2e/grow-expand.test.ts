import {Sandbox, collect, nodeProcesses} from '../helpers/cli.js'
import {Load, waitLoaded} from './grow-load.js'

/** Loaded nodes on a busy shared machine may take a while to answer. */
const SLOW = ['--node-timeout', '5000']

interface Varz {
  server_name: string
  routes: number
  cluster: {name?: string}
  jetstream: {meta?: {leader?: string; cluster_size?: number}}
}

async function varz(monitor: string): Promise<Varz> {
  return (await (await fetch(`${monitor}/varz`, {signal: AbortSignal.timeout(5000)})).json()) as Varz
}

async function routez(monitor: string): Promise<{num_routes: number}> {
  return (await (await fetch(`${monitor}/routez`, {signal: AbortSignal.timeout(5000)})).json()) as {num_routes: number}
}

/**
 * Every node routes to every other (N-1 routes in /varz and /routez), one cluster, one JetStream meta
 * leader, every node active in the registry and no operation left on the forest. grow returned only
 * once this held; on a machine this busy a node may answer its monitoring port slowly, so each look
 * gets a few seconds and a failed look is tried again.
 */
async function expectFullMesh(sb: Sandbox, forestId: string, n: number): Promise<void> {
  const doc = sb.registry()
  const nodes = doc.nodes[forestId]
  expect(nodes.map((x: any) => x.status)).toEqual(Array(n).fill('active'))
  expect(doc.forests[forestId].operation ?? null).toBeNull()
  const monitors = nodes.map((x: any) => `http://${x.ip}:8222`)
  let seen: unknown
  const deadline = Date.now() + 20_000
  for (;;) {
    try {
      const looks = await Promise.all(monitors.map(async (m: string) => ({r: await routez(m), v: await varz(m)})))
      seen = looks.map(({r, v}) => ({cluster: v.cluster.name, leader: v.jetstream.meta?.leader, routes: v.routes, routez: r.num_routes}))
      const leaders = new Set(looks.map(({v}) => v.jetstream.meta?.leader))
      if (
        looks.every(({r, v}) => v.routes === n - 1 && r.num_routes === n - 1 && v.cluster.name === forestId && v.jetstream.meta?.leader) &&
        leaders.size === 1
      )
        return
    } catch (error) {
      seen = (error as Error).message
    }
    if (Date.now() > deadline) throw new Error(`not a full mesh of ${n}: ${JSON.stringify(seen)}`)
    await new Promise((r) => setTimeout(r, 500))
  }
}

/** The forest's node processes (by their MORPHEUS_NODE_DIR), not the sandbox's. */
const processesOf = (sb: Sandbox, forestId: string) => nodeProcesses(`${sb.dir}/local/${forestId}/`)

describe('grow --auto adds a node to a real forest under real load', () => {
  let sb: Sandbox
  const load = new Load()
  beforeAll(() => {
    sb = new Sandbox()
  }, 120_000)
  afterEach(async () => {
    await load.stop()
    // Each test removes its forest (teardown through the CLI, so the registry ends empty too).
    for (const id of Object.keys(sb.registry().forests)) await sb.run(['teardown', id, '--yes'])
  }, 120_000)
  afterAll(async () => sb.cleanup(), 120_000)

  test('three loaded nodes: --auto adds node-4, the cluster has 4 nodes with full routes; an immediate second run reports the cooldown', async () => {
    const planted = await sb.json(['plant', 'local', 'medium'])
    const forestId = planted.forest.id
    for (const n of planted.nodes) load.start(n.ip)
    await waitLoaded(
      planted.nodes.map((n: any) => n.monitor),
      4,
    )

    const started = Date.now()
    const out = await sb.json(['grow', forestId, '--auto', '--threshold', '2', ...SLOW])
    // (the node CPU figures travel with a failure, to tell a quiet machine from a wrong decision)
    expect({...out, cpu: out.nodes.map((n: any) => n.cpu_percent)}).toMatchObject({
      forest_id: forestId,
      reason: 'cpu_above_threshold',
      status: 'expanded',
    })
    expect(out.metrics.cpu_percent).toBeGreaterThan(2)
    expect(out.action).toMatchObject({count: 1, node_id: 'node-4', node_ids: ['node-4'], nodes_after: 4, type: 'provision_node'})
    // The registry recorded the expansion (the claim), and the forest is a full mesh of four.
    const doc = sb.registry()
    expect(Date.parse(doc.forests[forestId].last_expansion)).toBeGreaterThanOrEqual(started - 1000)
    expect(doc.forests[forestId].node_count).toBe(4)
    expect(processesOf(sb, forestId)).toHaveLength(4)
    await expectFullMesh(sb, forestId, 4)

    const again = await sb.json(['grow', forestId, '--auto', '--threshold', '2', ...SLOW])
    expect(again).toMatchObject({action: null, reason: 'cooldown', status: 'cooldown'})
    expect(Date.parse(again.cooldown_until)).toBe(Date.parse(doc.forests[forestId].last_expansion) + 15 * 60_000)
    expect(sb.registry().nodes[forestId]).toHaveLength(4)
    expect(processesOf(sb, forestId)).toHaveLength(4)
  }, 240_000)

  test('a one-node forest grows to two: node-1 is turned into a cluster, node-2 joins it', async () => {
    const planted = await sb.json(['plant', 'local', 'small'])
    const forestId = planted.forest.id
    const node1 = planted.nodes[0]
    expect((await varz(node1.monitor)).cluster.name).toBeUndefined()
    load.start(node1.ip)
    await waitLoaded([node1.monitor], 4)
    // The interactive path, confirmed with --yes: the screen, then the progress, then the result.
    const r = await sb.run(['grow', forestId, '--threshold', '2', '--yes', ...SLOW])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('Recommendation: Add 1 node (no extra cost)')
    expect(r.stdout).toContain('✅ Node added (node-2). Cluster now has 2 nodes.')
    expect(r.stderr).toContain('Turning node-1 into a cluster, then creating node-2 (local)')
    expect(r.stderr).toContain('Joining the cluster: each node routes to the other')
    await expectFullMesh(sb, forestId, 2)
    // JetStream still works through the new cluster's meta leader; node-1 kept its server name.
    expect((await varz(node1.monitor)).server_name).toBe('node-1')
    const again = await sb.json(['grow', forestId, '--auto', '--threshold', '2', ...SLOW])
    expect(again.status).toBe('cooldown')
  }, 240_000)

  test('two grow --auto at once: exactly one node is added, the other run reports the cooldown', async () => {
    const planted = await sb.json(['plant', 'local', 'medium'])
    const forestId = planted.forest.id
    // Threshold 0: any load at all (resident memory counts) is above it, so both runs want to grow.
    const args = ['grow', forestId, '--auto', '--threshold', '0', '--json', ...SLOW]
    const [a, b] = await Promise.all([collect(sb.spawn(args), 120_000), collect(sb.spawn(args), 120_000)])
    expect([a.code, b.code]).toEqual([0, 0])
    const results = [JSON.parse(a.stdout), JSON.parse(b.stdout)]
    const statuses = results.map((x) => x.status).sort()
    expect(statuses).toEqual(['cooldown', 'expanded'])
    const loser = results.find((x) => x.status === 'cooldown')
    expect(['cooldown', 'expansion_in_progress']).toContain(loser.reason)
    expect(loser.action).toBeNull()
    expect(results.find((x) => x.status === 'expanded').action.node_ids).toEqual(['node-4'])
    expect(sb.registry().nodes[forestId].map((n: any) => n.id)).toEqual(['node-1', 'node-2', 'node-3', 'node-4'])
    expect(processesOf(sb, forestId)).toHaveLength(4)
    await expectFullMesh(sb, forestId, 4)
  }, 240_000)
})
