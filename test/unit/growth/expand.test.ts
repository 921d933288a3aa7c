import type {ForestDeps} from '../../../src/forest/deps.js'
import {Growth, type AddNodesRequest, type AddNodesResult} from '../../../src/forest/grow.js'
import {OperationRunner, type Outcome, type Phase} from '../../../src/forest/runner.js'
import {claimGuard, GROWTH_DEFAULTS} from '../../../src/growth/policy.js'
import {MemoryRegistry} from '../../../src/testing/memory-registry.js'
import {engine, plant, stored} from '../../helpers/engine.js'

/**
 * The runner as the grow command runs it: the phases shown as its relay does, remembering their
 * titles and whether the runner held the claimed growth (what a second Ctrl-C settles) in each.
 */
function ui(): {
  titles: string[]
  states: string[]
  expandForest(deps: ForestDeps, request: AddNodesRequest): Promise<Outcome<AddNodesResult>>
} {
  let runner!: OperationRunner
  const u = {
    async expandForest(deps: ForestDeps, request: AddNodesRequest) {
      runner = new OperationRunner({show: u, signal: deps.signal})
      return runner.run(await Growth.prepare(deps, request))
    },
    async run(phases: Phase[]) {
      for (const p of phases) {
        u.titles.push(p.title)
        u.states.push(runner.state)
        await p.run()
      }
    },
    states: [] as string[],
    titles: [] as string[],
  }
  return u
}

/** grow's claim, through the runner, with the policy guard. */
function expandForest(deps: ForestDeps, request: AddNodesRequest, u: ReturnType<typeof ui>) {
  return u.expandForest(deps, request)
}

describe('grow through the operation runner with the policy guard', () => {
  test('a one-node forest grows to two: node-1 turned into a cluster, then node-2 created and joined', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 1, provider: 'memory', size: 'x'})
    const u = ui()
    const {guard, refusal} = claimGuard(GROWTH_DEFAULTS, 1)
    const out = await expandForest(e.deps, {count: 1, forestId: forest.id, guard}, u)
    if (out.kind !== 'done') throw new Error(`not added: ${JSON.stringify(out)}`)
    expect(out.result.added.map((n) => n.id)).toEqual(['node-2'])
    expect(out.result.nodes).toHaveLength(2)
    expect(refusal()).toBeUndefined()
    expect(u.states).toEqual(['claimed', 'claimed'])
    expect(u.titles).toEqual([
      'Turning node-1 into a cluster, then creating node-2 (memory)',
      'Joining the cluster: each node routes to the other',
    ])
    expect(stored(e.backend).forests[forest.id].last_expansion).not.toBeNull()
  })

  test('the cooldown guard refuses a forest grown a moment ago by someone else: nothing written, nothing made', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    await e.deps.store.update((d) => void (d.forests[forest.id].last_expansion = new Date().toISOString()), {now: true})
    const writes = e.backend.counts.writes
    const {guard, refusal} = claimGuard(GROWTH_DEFAULTS, 1)
    const out = await expandForest(e.deps, {count: 1, forestId: forest.id, guard}, ui())
    expect(out.kind).toBe('refused')
    expect(refusal()).toMatchObject({reason: 'cooldown', status: 'cooldown'})
    expect(e.backend.counts.writes).toBe(writes)
    expect(e.provider.machines.size).toBe(3)
  })

  test('max_nodes is checked in the claim too', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    const {guard, refusal} = claimGuard({...GROWTH_DEFAULTS, max_nodes: 3}, 1)
    expect((await expandForest(e.deps, {count: 1, forestId: forest.id, guard}, ui())).kind).toBe('refused')
    expect(refusal()?.status).toBe('at_max_nodes')
    expect(stored(e.backend).nodes[forest.id]).toHaveLength(3)
  })

  test('a forest another process is growing right now: busy, named, and nothing added', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    await e.deps.store.update(
      (d) => void (d.forests[forest.id].operation = {device: 'device-b', kind: 'grow', pid: 4242, started_at: new Date().toISOString()}),
      {now: true},
    )
    const {guard} = claimGuard({...GROWTH_DEFAULTS, cooldown_minutes: 0}, 1)
    const out = await expandForest(e.deps, {count: 1, forestId: forest.id, guard}, ui())
    expect(out).toEqual({
      kind: 'busy',
      message: expect.stringContaining('a grow on device-b (pid 4242'),
      operation: expect.objectContaining({device: 'device-b', pid: 4242}),
    })
    expect(stored(e.backend).nodes[forest.id]).toHaveLength(3)
  })

  test('two devices at once with the policy guard: exactly one node added; the other is refused or busy', async () => {
    const backend = new MemoryRegistry()
    const a = engine({backend, provider: {createDelayMs: 20}})
    const {forest} = await plant(a.deps, {nodes: 3, provider: 'memory', size: 'x'})
    // A second device: its own registry store and command, the same registry and the same cloud.
    const b = engine({backend, device: 'device-b'})
    b.deps.provider = a.deps.provider
    b.deps.monitor = a.deps.monitor
    const run = (deps: typeof a.deps) =>
      expandForest(deps, {count: 1, forestId: forest.id, guard: claimGuard(GROWTH_DEFAULTS, 1).guard}, ui())
    // Both claims are in flight at once (each registry round trip takes 20 ms). b starts 3 ms later: in one
    // process both operations carry the same pid, and an identical started_at would make the engine take
    // b's claim for a retry of a's (see /work/notes/requests-grow.md).
    backend.latencyMs = 20
    const outs = await Promise.all([run(a.deps), new Promise((r) => setTimeout(r, 3)).then(() => run(b.deps))])
    expect(outs.map((o) => o.kind).sort()).toEqual(expect.arrayContaining(['done']))
    expect(outs.filter((o) => o.kind === 'done')).toHaveLength(1)
    expect(outs.filter((o) => o.kind !== 'done').every((o) => o.kind === 'refused' || o.kind === 'busy')).toBe(true)
    expect(stored(backend).nodes[forest.id]).toHaveLength(4)
  })
})
