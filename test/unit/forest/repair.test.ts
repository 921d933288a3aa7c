import {majorityDown, Repair, repairForest} from '../../../src/forest/repair.js'
import {OperationRunner, type PhaseRunner} from '../../../src/forest/runner.js'
import type {StreamsLook} from '../../../src/monitor/streams.js'
import {CURRENT_R3, currentStreams, engine, grow, plant, stored} from '../../helpers/engine.js'
import {rejection} from '../../helpers/unit.js'

const streams = currentStreams

function kill(e: ReturnType<typeof engine>, forestId: string, ...ids: string[]) {
  for (const id of ids) e.provider.machines.get(`${forestId}/${id}`)!.running = false
}

describe('forest versions', () => {
  test('plant records what the first node runs; grow creates nodes of the recorded versions, not the newest default', async () => {
    const e = engine({provider: {defaultVersions: {nats: '2.9.10'}}})
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    expect(forest.versions).toEqual({nats: '2.9.10'})
    expect(stored(e.backend).nodes[forest.id].map((n: any) => n.versions)).toEqual([{nats: '2.9.10'}, {nats: '2.9.10'}, {nats: '2.9.10'}])
    e.provider.options.defaultVersions = {nats: '2.11.0'}
    await grow(e.deps, {count: 1, forestId: forest.id})
    expect(e.provider.machines.get(`${forest.id}/node-4`)!.versions).toEqual({nats: '2.9.10'})
  })

  test('a forest recorded without versions (an older document) still grows, with the provider default', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    await e.deps.store.update((doc) => void delete doc.forests[forest.id].versions)
    await grow(e.deps, {count: 1, forestId: forest.id})
    expect(e.provider.machines.get(`${forest.id}/node-4`)!.versions).toEqual({nats: '2.10.0'})
  })
})

describe('repair', () => {
  test("a dead node gets a new machine with the same id and address and the forest's versions; recorded active, operation cleared", async () => {
    const e = engine({provider: {defaultVersions: {nats: '2.9.10'}}})
    const {forest, nodes} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    e.provider.options.defaultVersions = {nats: '2.11.0'}
    kill(e, forest.id, 'node-2')
    const result = await repairForest(e.deps, {forestId: forest.id, streams})
    expect(result).toMatchObject({dead: ['node-2'], remaining: [], replaced: ['node-2'], status: 'repaired'})
    const machine = e.provider.machines.get(`${forest.id}/node-2`)!
    expect(machine).toMatchObject({generation: 2, ip: nodes[1].ip, running: true, versions: {nats: '2.9.10'}})
    expect(machine.peers).toEqual(['node-1', 'node-3'])
    expect(e.provider.calls).toContain('replace node-2 nats=2.9.10')
    const doc = stored(e.backend)
    expect(doc.forests[forest.id].operation).toBeNull()
    expect(doc.nodes[forest.id].map((n: any) => n.status)).toEqual(['active', 'active', 'active'])
    expect(doc.nodes[forest.id][1].ip).toBe(nodes[1].ip)
  })

  test('an Operation the runner drives: its phases shown; Ctrl-C while replacing settles once (a second Ctrl-C gets that record); a re-run finishes', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    kill(e, forest.id, 'node-2')
    const titles: string[] = []
    let second: Promise<unknown> | undefined
    let settles = 0
    const show: PhaseRunner = {
      async run(phases) {
        for (const p of phases) {
          titles.push(p.title)
          if (p.title.startsWith('Replacing')) {
            e.controller.abort()
            second = runner.ending()
          }
          await p.run()
        }
      },
    }
    const runner = new OperationRunner({show, signal: e.deps.signal})
    const repair = await Repair.prepare(e.deps, {forestId: forest.id, streams})
    expect(repair.early).toBeUndefined()
    const settle = repair.settle.bind(repair)
    repair.settle = (error) => {
      settles++
      return settle(error)
    }
    const error = await rejection(runner.run(repair))
    expect(error).toMatchObject({kind: 'INTERRUPTED'})
    expect(await second).toBe(error)
    expect(settles).toBe(1)
    expect(titles).toEqual([`Replacing node-2 of ${forest.id} (same id and addresses)`])
    const doc = stored(e.backend)
    expect(doc.forests[forest.id].operation).toBeNull()
    expect(doc.forests[forest.id].note).toMatch(/^repair interrupted/)
    expect(e.provider.machines.get(`${forest.id}/node-2`)!.running).toBe(false)

    const again = await repairForest({...e.deps, signal: new AbortController().signal}, {forestId: forest.id, streams})
    expect(again).toMatchObject({replaced: ['node-2'], status: 'repaired'})
  })

  test('nothing dead: nothing replaced', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    const result = await repairForest(e.deps, {forestId: forest.id, streams})
    expect(result).toMatchObject({reason: 'nothing_to_repair', replaced: [], status: 'healthy'})
    expect(e.provider.calls.filter((c) => c.startsWith('replace'))).toEqual([])
  })

  test('refuses when a majority does not answer, replacing nothing (--auto: status refused, exit 0)', async () => {
    expect([
      majorityDown(3, 1),
      majorityDown(3, 2),
      majorityDown(2, 1),
      majorityDown(1, 1),
      majorityDown(5, 2),
      majorityDown(5, 3),
    ]).toEqual([false, true, false, true, false, true])
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    kill(e, forest.id, 'node-1', 'node-3')
    const error = await rejection(repairForest(e.deps, {forestId: forest.id, streams}))
    expect(error).toMatchObject({kind: 'USAGE'})
    expect(error.message).toMatch(/2 of 3 nodes .* do not answer .*not a dead node/)
    const auto = await repairForest(e.deps, {auto: true, forestId: forest.id, streams})
    expect(auto).toMatchObject({reason: 'majority_unreachable', status: 'refused'})
    expect(e.provider.calls.filter((c) => c.startsWith('replace'))).toEqual([])
    expect(stored(e.backend).forests[forest.id].operation).toBeNull()
  })

  test('a provider without replaceNode is refused before anything is changed', async () => {
    const e = engine({provider: {noReplace: true}})
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    kill(e, forest.id, 'node-2')
    const error = await rejection(repairForest(e.deps, {forestId: forest.id, streams}))
    expect(error).toMatchObject({kind: 'PROVIDER'})
    expect(error.message).toMatch(/cannot replace a node's machine/)
  })

  test('--auto: one node per run, then a cooldown recorded in the registry; --dry-run changes nothing', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 5, provider: 'memory', size: 'x'})
    kill(e, forest.id, 'node-2', 'node-4')
    const dry = await repairForest(e.deps, {auto: true, dryRun: true, forestId: forest.id, streams})
    expect(dry).toMatchObject({remaining: ['node-4'], status: 'dry_run'})
    expect(e.provider.calls.filter((c) => c.startsWith('replace'))).toEqual([])
    const first = await repairForest(e.deps, {auto: true, forestId: forest.id, streams})
    expect(first).toMatchObject({remaining: ['node-4'], replaced: ['node-2'], status: 'repaired'})
    expect(stored(e.backend).forests[forest.id].last_repair).toEqual(expect.any(String))
    const second = await repairForest(e.deps, {auto: true, cooldownMinutes: 15, forestId: forest.id, streams})
    expect(second).toMatchObject({reason: 'cooldown', status: 'cooldown'})
    expect(second.cooldown_until).toEqual(expect.any(String))
    const third = await repairForest(e.deps, {auto: true, cooldownMinutes: 0, forestId: forest.id, streams})
    expect(third).toMatchObject({replaced: ['node-4'], status: 'repaired'})
  })

  test('a replacement that fails is recorded (operation cleared, the note says why); a re-run finishes', async () => {
    const e = engine({provider: {failReplace: new Set(['node-2'])}})
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    kill(e, forest.id, 'node-2')
    const error = await rejection(repairForest(e.deps, {forestId: forest.id, streams}))
    expect(error.message).toMatch(/cannot replace node-2/)
    let doc = stored(e.backend)
    expect(doc.forests[forest.id]).toMatchObject({operation: null, status: 'active'})
    expect(doc.forests[forest.id].note).toMatch(/^repair failed: /)
    expect(doc.nodes[forest.id][1].status).toBe('creating')
    e.provider.options.failReplace = undefined
    const again = await repairForest(e.deps, {forestId: forest.id, streams})
    expect(again).toMatchObject({replaced: ['node-2'], status: 'repaired'})
    doc = stored(e.backend)
    expect(doc.nodes[forest.id][1].status).toBe('active')
  })

  test('streams that do not get current in time fail the repair, naming them', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    kill(e, forest.id, 'node-3')
    const behind: StreamsLook = {
      streams: [
        {
          ...CURRENT_R3,
          current: false,
          followers: [
            {current: true, name: 'node-2'},
            {current: false, name: 'node-3'},
          ],
        },
      ],
      unanswered: {},
    }
    const error = await rejection(repairForest(e.deps, {forestId: forest.id, streams: async () => behind, streamsTimeoutSeconds: 0.3}))
    expect(error).toMatchObject({kind: 'NOT_FORMED'})
    expect(error.message).toMatch(/R3: 2\/3 current, behind: node-3/)
  })

  test('another operation holding the forest: refused (--auto: reported as in progress)', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    kill(e, forest.id, 'node-2')
    await e.deps.store.update(
      (doc) => void (doc.forests[forest.id].operation = {device: 'other', kind: 'grow', pid: 1, started_at: new Date().toISOString()}),
    )
    const error = await rejection(repairForest(e.deps, {forestId: forest.id, streams}))
    expect(error.message).toMatch(/being changed right now \(a grow on other/)
    const auto = await repairForest(e.deps, {auto: true, forestId: forest.id, streams})
    expect(auto).toMatchObject({reason: 'repair_in_progress', status: 'cooldown'})
  })
})

describe('a stopped repair or upgrade', () => {
  test('is finished by running it again (the hint says so); plant, grow and teardown keep the teardown hint', async () => {
    const {staleHint} = await import('../../../src/forest/operation.js')
    const forest = (kind: any) => ({
      created_at: '',
      id: 'f',
      last_expansion: null,
      node_count: 3,
      operation: {device: 'd', kind, pid: 1, started_at: ''},
      provider: 'local',
      size: 's',
      status: 'active' as const,
    })
    expect(staleHint(forest('repair'))).toMatch(/Run `morpheus repair f` again to finish it/)
    expect(staleHint(forest('upgrade'))).toMatch(/Run `morpheus upgrade f --nats\|--nimsforest <the same version>` again/)
    expect(staleHint(forest('grow'))).toMatch(/remove it with `morpheus teardown f --yes`/)
  })
})
