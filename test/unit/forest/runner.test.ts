import {Plant} from '../../../src/forest/plant.js'
import {OperationRunner, type Phase} from '../../../src/forest/runner.js'
import {engine, stored, type Engine} from '../../helpers/engine.js'
import {rejection} from '../../helpers/unit.js'

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
  let runner!: OperationRunner
  const show = shown(() => runner, onPhase)
  runner = new OperationRunner({show, signal: e.deps.signal})
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
  ])('interrupted %s ms into "%s": settled once, the registry lists exactly the machines that exist', async (phase, delay) => {
    const e = engine({provider: {createDelayMs: 30, noRoutes: phase.startsWith('Waiting')}, settings: {form_timeout_seconds: 5}})
    const planting = await Plant.prepare(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    let settles = 0
    const settle = planting.settle.bind(planting)
    planting.settle = (error) => {
      settles++
      return settle(error)
    }
    const {runner} = runnerFor(e, (title) => {
      if (title.startsWith(phase)) setTimeout(() => e.controller.abort(), delay)
    })
    const error = await rejection(runner.run(planting))
    expect(error.kind).toBe('INTERRUPTED')
    expect(settles).toBe(1)
    const doc = stored(e.backend)
    const id = planting.forest!.id
    expect(doc.forests[id]).toMatchObject({operation: null, status: 'interrupted'})
    const listed = doc.nodes[id].filter((n: any) => n.status !== 'failed').map((n: any) => n.id).sort()
    expect(listed).toEqual([...e.provider.machines.values()].map((m) => m.id).sort())
    if (phase.startsWith('Waiting')) expect(listed).toEqual(['node-1', 'node-2', 'node-3'])
  })

  test('a phase that fails: settled as failed, and the error is the phase\'s own', async () => {
    const e = engine({capabilities: {maxParallel: 1}, provider: {failCreate: new Set(['node-2'])}})
    const error = await rejection(new OperationRunner().run(await Plant.prepare(e.deps, {nodes: 3, provider: 'memory', size: 'x'})))
    expect(error).toMatchObject({kind: 'PROVIDER'})
    expect(error.message).toMatch(/1 of 3 new nodes could not be created/)
    expect(Object.values(stored(e.backend).forests)).toEqual([expect.objectContaining({operation: null, status: 'failed'})])
  })

  test('a second Ctrl-C waits for the first one\'s settle and gets its error; settle runs once', async () => {
    const e = engine({provider: {createDelayMs: 40}})
    const planting = await Plant.prepare(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    let settles = 0
    const settle = planting.settle.bind(planting)
    planting.settle = (error) => {
      settles++
      return settle(error)
    }
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
    expect(settles).toBe(1)
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

  test('a second Ctrl-C with no operation under way (still preparing): nothing to wait for', async () => {
    const e = engine()
    const runner = new OperationRunner({signal: e.deps.signal})
    const started = Date.now()
    expect(await runner.ending()).toBeUndefined()
    expect(Date.now() - started).toBeLessThan(100)
  })
})
