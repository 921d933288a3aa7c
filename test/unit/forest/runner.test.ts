import {Growth} from '../../../src/forest/grow.js'
import {Plant} from '../../../src/forest/plant.js'
import {OperationRunner, type Phase} from '../../../src/forest/runner.js'
import {engine, plant, stored, type Engine} from '../../helpers/engine.js'
import {rejection} from '../../helpers/unit.js'

/** Counts the operation's settle() calls (the runner must settle once, and never after its own wait). */
function countSettles(op: {settle(error: unknown): Promise<unknown>}): {count: number} {
  const counter = {count: 0}
  const settle = op.settle.bind(op)
  op.settle = (error) => {
    counter.count++
    return settle(error)
  }
  return counter
}

/** Phases run as the command's relay runs them, remembering titles and the runner's state in each. */
function shown(runner: () => OperationRunner, onPhase: (title: string) => void = () => undefined) {
  const seen: Array<[string, string]> = []
  return {
    seen,
    async run(phases: Phase[]) {
      for (const p of phases) {
        seen.push([p.title, runner().state])
        onPhase(p.title)
        await p.run()
      }
    },
  }
}

function runnerFor(e: Engine, onPhase?: (title: string) => void): {runner: OperationRunner; seen: Array<[string, string]>} {
  const ref: {runner?: OperationRunner} = {}
  const show = shown(() => ref.runner!, onPhase)
  const runner = new OperationRunner({show, signal: e.deps.signal})
  ref.runner = runner
  return {runner, seen: show.seen}
}

describe('the operation runner: plant', () => {
  test('claim, create, wait, finish: done with the result; each phase shown with its title, the claim while claiming', async () => {
    const e = engine()
    const {runner, seen} = runnerFor(e)
    expect(runner.state).toBe('idle')
    const out = await runner.run(await Plant.prepare(e.deps, {nodes: 3, provider: 'memory', size: 'x'}))
    expect(out.kind).toBe('done')
    expect(out.result.forest.status).toBe('active')
    expect(seen).toEqual([
      ['Claiming the forest in the registry', 'claiming'],
      ['Creating 3 nodes (memory)', 'claimed'],
      ['Waiting for routes and a JetStream leader', 'claimed'],
    ])
    expect(e.lines[0]).toBe(`${out.result.forest.id}: node-1 10.0.0.1, node-2 10.0.0.2, node-3 10.0.0.3`)
    expect(runner.state).toBe('idle')
    expect(stored(e.backend).forests[out.result.forest.id]).toMatchObject({operation: null, status: 'active'})
  })

  test('interrupted before the claim: refused at once, nothing written, nothing made', async () => {
    const e = engine()
    const planting = await Plant.prepare(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    e.controller.abort()
    const error = await rejection(new OperationRunner({signal: e.deps.signal}).run(planting))
    expect(error).toMatchObject({kind: 'INTERRUPTED', message: 'interrupted before anything was created; nothing was changed'})
    expect(e.backend.stored).toBeNull()
    expect(e.provider.machines.size).toBe(0)
  })

  test('interrupted while the claim is being written: the claim lands, then is settled (interrupted, no node, nothing made)', async () => {
    const e = engine()
    e.backend.latencyMs = 30
    const {runner, seen} = runnerFor(e, (title) => {
      if (title.startsWith('Claiming')) setTimeout(() => e.controller.abort(), 10)
    })
    const error = await rejection(runner.run(await Plant.prepare(e.deps, {nodes: 3, provider: 'memory', size: 'x'})))
    expect(error.kind).toBe('INTERRUPTED')
    expect(seen.map(([title]) => title)).toEqual(['Claiming the forest in the registry'])
    const doc = stored(e.backend)
    const [id] = Object.keys(doc.forests)
    expect(doc.forests[id]).toMatchObject({operation: null, status: 'interrupted'})
    expect(doc.nodes[id]).toEqual([])
    expect(e.provider.machines.size).toBe(0)
    expect(runner.state).toBe('idle')
  })

  test.each([
    ['Creating 3 nodes', 10],
    ['Waiting for routes', 30],
  ])('interrupted in "%s", %s ms in: settled once, the registry lists exactly the machines that exist', async (phase, delay) => {
    const e = engine({provider: {createDelayMs: 30, noRoutes: phase.startsWith('Waiting')}, settings: {form_timeout_seconds: 5}})
    const planting = await Plant.prepare(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    const settles = countSettles(planting)
    const {runner} = runnerFor(e, (title) => {
      if (title.startsWith(phase)) setTimeout(() => e.controller.abort(), delay)
    })
    const error = await rejection(runner.run(planting))
    expect(error.kind).toBe('INTERRUPTED')
    expect(settles.count).toBe(1)
    const doc = stored(e.backend)
    const id = planting.forest!.id
    expect(doc.forests[id]).toMatchObject({operation: null, status: 'interrupted'})
    const listed = doc.nodes[id]
      .filter((n: any) => n.status !== 'failed')
      .map((n: any) => n.id)
      .sort()
    expect(listed).toEqual([...e.provider.machines.values()].map((m) => m.id).sort())
    if (phase.startsWith('Waiting')) expect(listed).toEqual(['node-1', 'node-2', 'node-3'])
  })

  test('interrupted during the look that finds the forest formed: stopped all the same (interrupted, every node listed active), as the user was told', async () => {
    const e = engine()
    let waiting = false
    const monitor = e.deps.monitor
    e.deps.monitor = async (urls, timeoutMs) => {
      const health = await monitor(urls, timeoutMs)
      if (waiting) e.controller.abort()
      return health
    }
    const {runner} = runnerFor(e, (title) => void (waiting = title.startsWith('Waiting')))
    const planting = await Plant.prepare(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    const error = await rejection(runner.run(planting))
    expect(error.kind).toBe('INTERRUPTED')
    const doc = stored(e.backend)
    expect(doc.forests[planting.forest!.id]).toMatchObject({operation: null, status: 'interrupted'})
    expect(doc.nodes[planting.forest!.id].map((n: any) => n.status)).toEqual(['active', 'active', 'active'])
  })

  test("a phase that fails: settled as failed, and the error is the phase's own", async () => {
    const e = engine({capabilities: {maxParallel: 1}, provider: {failCreate: new Set(['node-2'])}})
    const error = await rejection(new OperationRunner().run(await Plant.prepare(e.deps, {nodes: 3, provider: 'memory', size: 'x'})))
    expect(error).toMatchObject({kind: 'PROVIDER'})
    expect(error.message).toMatch(/1 of 3 new nodes could not be created/)
    expect(Object.values(stored(e.backend).forests)).toEqual([expect.objectContaining({operation: null, status: 'failed'})])
  })

  test("a second Ctrl-C waits for the first one's settle and gets its error; settle runs once", async () => {
    const e = engine({provider: {createDelayMs: 40}})
    const planting = await Plant.prepare(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    const settles = countSettles(planting)
    let second: Promise<unknown> | undefined
    const {runner} = runnerFor(e, (title) => {
      if (!title.startsWith('Creating')) return
      setTimeout(() => {
        e.controller.abort()
        second = runner.ending()
      }, 10)
    })
    const error = await rejection(runner.run(planting))
    expect(await second).toBe(error)
    expect(settles.count).toBe(1)
    expect(stored(e.backend).forests[planting.forest!.id]).toMatchObject({operation: null, status: 'interrupted'})
  })

  test('a second Ctrl-C while a provider call ignores the signal: after the wait it settles itself, and what exists is recorded', async () => {
    const e = engine()
    let release!: () => void
    const hung = new Promise<void>((resolve) => (release = resolve))
    let asked = false
    const create = e.provider.createNode.bind(e.provider)
    e.provider.createNode = async (r) => {
      asked = true
      await hung
      return create(r)
    }
    const planting = await Plant.prepare(e.deps, {nodes: 1, provider: 'memory', size: 'x'})
    const {runner} = runnerFor(e)
    const running = runner.run(planting).catch((error) => error)
    while (!asked) await new Promise((r) => setTimeout(r, 5))
    expect(runner.state).toBe('claimed')
    e.controller.abort()
    const started = Date.now()
    const ending = await runner.ending(50)
    expect(Date.now() - started).toBeGreaterThanOrEqual(45)
    expect(ending).toMatchObject({kind: 'INTERRUPTED'})
    expect(runner.state).toBe('settling')
    const doc = stored(e.backend)
    expect(doc.forests[planting.forest!.id]).toMatchObject({operation: null, status: 'interrupted'})
    // The node whose create was asked for stays listed: it may exist (teardown removes it).
    expect(doc.nodes[planting.forest!.id].map((n: any) => n.id)).toEqual(['node-1'])
    release()
    // The operation itself ends with the same error once its call returns: one settle, one ending.
    expect(await running).toBe(ending)
  })

  test('a second Ctrl-C while the end is being written: the finished plant is left as it is, not settled', async () => {
    const e = engine()
    e.backend.latencyMs = 40
    const planting = await Plant.prepare(e.deps, {nodes: 1, provider: 'memory', size: 'x'})
    const settles = countSettles(planting)
    const finish = planting.finish.bind(planting)
    let second: Promise<unknown> | undefined
    const runner = new OperationRunner()
    planting.finish = () => {
      second = runner.ending(5000)
      return finish()
    }
    const started = Date.now()
    const out = await runner.run(planting)
    expect(out.kind).toBe('done')
    expect(await second).toBeUndefined()
    // It stopped waiting as soon as the plant was over, not after its 5 s.
    expect(Date.now() - started).toBeLessThan(2000)
    expect(settles.count).toBe(0)
    expect(stored(e.backend).forests[out.result.forest.id]).toMatchObject({operation: null, status: 'active'})
  })

  test('a second Ctrl-C with no operation under way (still preparing): nothing to wait for', async () => {
    const e = engine()
    const runner = new OperationRunner({signal: e.deps.signal})
    const started = Date.now()
    expect(await runner.ending()).toBeUndefined()
    expect(Date.now() - started).toBeLessThan(100)
  })
})

describe('the operation runner: grow, and the claim results', () => {
  test('claimed: the claim runs unshown, then the two phases; done with the nodes added', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    const {runner, seen} = runnerFor(e)
    const out = await runner.run(await Growth.prepare(e.deps, {count: 2, forestId: forest.id}))
    if (out.kind !== 'done') throw new Error(`not done: ${JSON.stringify(out)}`)
    expect(out.result.added.map((n) => n.id)).toEqual(['node-4', 'node-5'])
    expect(seen).toEqual([
      ['Creating node-4, node-5 (memory)', 'claimed'],
      ['Joining the cluster: every node routes to the 4 others', 'claimed'],
    ])
    expect(stored(e.backend).forests[forest.id]).toMatchObject({node_count: 5, operation: null, status: 'active'})
  })

  test("refused, with the guard's reason: nothing written, nothing made, no phase shown", async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    const writes = e.backend.counts.writes
    const {runner, seen} = runnerFor(e)
    const out = await runner.run(await Growth.prepare(e.deps, {count: 1, forestId: forest.id, guard: () => 'growth.max_nodes is 3'}))
    expect(out).toEqual({kind: 'refused', reason: 'growth.max_nodes is 3'})
    expect(e.backend.counts.writes).toBe(writes)
    expect(seen).toEqual([])
    expect(e.provider.machines.size).toBe(3)
    expect(runner.state).toBe('idle')
  })

  test('busy, with the operation running: nothing written, nothing made', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    const running = {device: 'device-b', kind: 'grow' as const, pid: 4242, started_at: '2026-01-02T03:04:05.000Z', token: 'abc'}
    await e.deps.store.update((d) => void (d.forests[forest.id].operation = running), {now: true})
    const writes = e.backend.counts.writes
    const out = await new OperationRunner({signal: e.deps.signal}).run(await Growth.prepare(e.deps, {count: 1, forestId: forest.id}))
    expect(out).toEqual({
      kind: 'busy',
      message: 'a grow on device-b (pid 4242, started 2026-01-02T03:04:05.000Z) is changing the forest right now',
      operation: running,
    })
    expect(e.backend.counts.writes).toBe(writes)
    expect(stored(e.backend).nodes[forest.id]).toHaveLength(3)
    expect(e.provider.machines.size).toBe(3)
  })

  test('the guard is asked first: a forest another run is growing, and grew a moment ago, is refused (cooldown), not busy', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    await e.deps.store.update(
      (d) =>
        void Object.assign(d.forests[forest.id], {
          last_expansion: new Date().toISOString(),
          operation: {device: 'device-b', kind: 'grow', pid: 4242, started_at: new Date().toISOString()},
        }),
      {now: true},
    )
    const out = await new OperationRunner().run(
      await Growth.prepare(e.deps, {count: 1, forestId: forest.id, guard: (f) => (f.last_expansion ? 'cooldown' : undefined)}),
    )
    expect(out).toEqual({kind: 'refused', reason: 'cooldown'})
  })

  test('the registry keeps changing under the claim, and another run grew the forest meanwhile: refused, not an error', async () => {
    const e = engine({store: {conflictAttempts: 2, conflictBaseMs: 1}})
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    const growing = await Growth.prepare(e.deps, {count: 1, forestId: forest.id})
    // Every write of this claim loses to another writer, who grows the forest.
    const write = e.backend.write.bind(e.backend)
    let lost = 0
    e.backend.write = async (body, condition, options) => {
      if (lost++ < 2) {
        const doc = stored(e.backend)
        doc.forests[forest.id].last_expansion = new Date().toISOString()
        e.backend.overwrite(JSON.stringify(doc))
      }
      return write(body, condition, options)
    }
    const out = await new OperationRunner().run(growing)
    expect(lost).toBe(2)
    expect(out).toEqual({kind: 'refused', reason: expect.stringMatching(/^another run grew the forest at /)})
    expect(stored(e.backend).nodes[forest.id]).toHaveLength(3)
  })

  test.each([
    ['while the claim is written', 'claim', 0],
    ['in the create phase', 'Turning node-1 into a cluster', 5],
    ['in the join phase', 'Joining the cluster', 20],
  ])('interrupted %s: settled; the forest stays active with what exists, the operation cleared', async (_name, phase, delay) => {
    const e = engine({provider: {createDelayMs: 30}, settings: {form_timeout_seconds: 5}})
    const {forest} = await plant(e.deps, {nodes: 1, provider: 'memory', size: 'x'})
    const growing = await Growth.prepare(e.deps, {count: 1, forestId: forest.id})
    if (phase === 'claim') {
      e.backend.latencyMs = 30
      setTimeout(() => e.controller.abort(), 10)
    }
    if (phase.startsWith('Joining')) e.provider.options.noRoutes = true
    const {runner, seen} = runnerFor(e, (title) => {
      if (title.startsWith(phase)) setTimeout(() => e.controller.abort(), delay)
    })
    const error = await rejection(runner.run(growing))
    expect(error.kind).toBe('INTERRUPTED')
    if (phase === 'claim') expect(seen).toEqual([])
    const doc = stored(e.backend)
    expect(doc.forests[forest.id]).toMatchObject({operation: null, status: 'active'})
    const listed = doc.nodes[forest.id]
      .filter((n: any) => n.status !== 'failed')
      .map((n: any) => n.id)
      .sort()
    expect(listed).toEqual([...e.provider.machines.values()].map((m) => m.id).sort())
    expect(doc.forests[forest.id].node_count).toBe(doc.nodes[forest.id].length)
    if (phase === 'claim') expect(listed).toEqual(['node-1'])
    if (phase.startsWith('Joining')) expect(listed).toEqual(['node-1', 'node-2'])
  })

  test('a cloud grow interrupted while joining: the new node is removed again and node-1 runs alone again', async () => {
    const e = engine({capabilities: {cloud: true}, settings: {form_timeout_seconds: 5}})
    const {forest} = await plant(e.deps, {nodes: 1, provider: 'memory', size: 'x'})
    e.provider.options.noRoutes = true
    const {runner} = runnerFor(e, (title) => {
      if (title.startsWith('Joining')) setTimeout(() => e.controller.abort(), 20)
    })
    const error = await rejection(runner.run(await Growth.prepare(e.deps, {count: 1, forestId: forest.id})))
    expect(error.kind).toBe('INTERRUPTED')
    expect([...e.provider.machines.values()].map((m) => [m.id, m.cluster])).toEqual([['node-1', false]])
    expect(stored(e.backend).nodes[forest.id].map((n: any) => n.id)).toEqual(['node-1'])
    expect(stored(e.backend).forests[forest.id]).toMatchObject({node_count: 1, operation: null, status: 'active'})
  })
})
