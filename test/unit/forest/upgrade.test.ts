import {runsTarget, upgradeForest} from '../../../src/forest/upgrade.js'
import type {StreamsLook} from '../../../src/monitor/streams.js'
import {CURRENT_R3, currentStreams, engine, plant, stored} from '../../helpers/engine.js'
import {rejection} from '../../helpers/unit.js'

const r3 = CURRENT_R3
const streams = currentStreams

async function forest(options: Parameters<typeof engine>[0] = {}) {
  const e = engine({provider: {defaultVersions: {nats: '2.9.10'}}, ...options})
  const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
  return {e, id: forest.id}
}

describe('upgrade', () => {
  test('one node at a time, followers first and the meta leader last, each graceful; the forest and every node record the version', async () => {
    const {e, id} = await forest()
    const result = await upgradeForest(e.deps, {forestId: id, streams, wanted: {nats: '2.11.0'}})
    expect(result).toMatchObject({status: 'upgraded', target: {nats: '2.11.0'}, upgraded: ['node-2', 'node-3', 'node-1']})
    expect(e.provider.calls.filter((c) => c.startsWith('replace'))).toEqual([
      'replace node-2 graceful nats=2.11.0',
      'replace node-3 graceful nats=2.11.0',
      'replace node-1 graceful nats=2.11.0',
    ])
    const doc = stored(e.backend)
    expect(doc.forests[id]).toMatchObject({operation: null, versions: {nats: '2.11.0'}})
    expect(doc.nodes[id].map((n: any) => n.versions.nats)).toEqual(['2.11.0', '2.11.0', '2.11.0'])
    expect(result.versions_by_node).toEqual({'nats-server 2.11.0': ['node-1', 'node-2', 'node-3']})
  })

  test('the same version again: up to date, nothing replaced', async () => {
    const {e, id} = await forest()
    const result = await upgradeForest(e.deps, {forestId: id, streams, wanted: {nats: '2.9.10'}})
    expect(result.status).toBe('up_to_date')
    expect(e.provider.calls.filter((c) => c.startsWith('replace'))).toEqual([])
  })

  test('stops at the first failure, saying which nodes run which version; a re-run skips the upgraded ones', async () => {
    const {e, id} = await forest()
    e.provider.options.failReplace = new Set(['node-3'])
    const error = await rejection(upgradeForest(e.deps, {forestId: id, streams, wanted: {nats: '2.11.0'}}))
    expect(error.message).toMatch(
      /cannot replace node-3\. The upgrade stopped: node-1, node-3 run nats-server 2\.9\.10; node-2 runs nats-server 2\.11\.0/,
    )
    expect((error.details as any).versions_by_node).toEqual({'nats-server 2.11.0': ['node-2'], 'nats-server 2.9.10': ['node-1', 'node-3']})
    expect(stored(e.backend).forests[id]).toMatchObject({operation: null, versions: {nats: '2.9.10'}})
    // node-3's machine is gone (the failed replacement): the forest is not whole, upgrade refuses; repair first.
    e.provider.options.failReplace = undefined
    const refused = await rejection(upgradeForest(e.deps, {forestId: id, streams, wanted: {nats: '2.11.0'}}))
    expect(refused.message).toMatch(/is not healthy .*node-3/)
    const {repairForest} = await import('../../../src/forest/repair.js')
    await repairForest(e.deps, {forestId: id, streams})
    const again = await upgradeForest(e.deps, {forestId: id, streams, wanted: {nats: '2.11.0'}})
    expect(again).toMatchObject({skipped: ['node-2'], status: 'upgraded', upgraded: ['node-3', 'node-1']})
  })

  test('a cloud forest with an R1 stream on a node to upgrade: the dry run names the move; where it cannot be moved, refused before anything is changed, saying why', async () => {
    const {e, id} = await forest({capabilities: {cloud: true}})
    const r1 = (account = '$G') => ({account, current: true, followers: [], leader: 'node-2', name: 'EVENTS', replicas: 1})
    const withR1 = async (): Promise<StreamsLook> => ({streams: [r3, r1()], unanswered: {}})
    // A dry run says which R1 stream would move off which node first (and connects to nothing).
    const connects: string[] = []
    e.deps.jetstream = {
      connect: async (servers) => Promise.reject(new Error(`no NATS here (${connects.push(...servers)})`)),
      snapshotDir: '',
    }
    const dry = await upgradeForest(e.deps, {dryRun: true, forestId: id, streams: withR1, wanted: {nats: '2.11.0'}})
    expect(dry.status).toBe('dry_run')
    expect(dry.moved).toEqual([{from: 'node-2', stream: 'EVENTS', to: null}])
    expect(dry.message).toContain('moving R1 streams first (EVENTS off node-2)')
    expect(connects).toEqual([])
    // The connection the moves need is opened before anything is changed: one that cannot be had is the error.
    const unreachable = await rejection(upgradeForest(e.deps, {forestId: id, streams: withR1, wanted: {nats: '2.11.0'}}))
    expect(unreachable.message).toMatch(/no NATS here/)
    expect(connects.length).toBeGreaterThan(0)
    expect(stored(e.backend).forests[id]).toMatchObject({operation: null})
    // No JetStream client at all (an engine without NATS): the move cannot be made, so nothing is.
    e.deps.jetstream = undefined
    const error = await rejection(upgradeForest(e.deps, {forestId: id, streams: withR1, wanted: {nats: '2.11.0'}}))
    expect(error).toMatchObject({kind: 'USAGE'})
    expect(error.message).toMatch(/holds R1 streams on nodes to upgrade \(EVENTS on node-2\); moving them first needs a JetStream client/)
    // A stream outside the global account: Morpheus's connection does not reach it.
    const other = await rejection(
      upgradeForest(e.deps, {forestId: id, streams: async () => ({streams: [r3, r1('APP')], unanswered: {}}), wanted: {nats: '2.11.0'}}),
    )
    expect(other.message).toMatch(/R1 streams in accounts other than the global one \(EVENTS in APP on node-2\)/)
    expect(e.provider.calls.filter((c) => c.startsWith('replace'))).toEqual([])
    expect(stored(e.backend).forests[id]).toMatchObject({operation: null, versions: {nats: '2.9.10'}})
    // A local forest keeps its disk: nothing to move, the upgrade goes on.
    const local = await forest()
    const done = await upgradeForest(local.e.deps, {forestId: local.id, streams: withR1, wanted: {nats: '2.11.0'}})
    expect(done).toMatchObject({moved: [], status: 'upgraded'})
  })

  test('a one-node cloud forest with an R1 stream is refused: there is no other node to move it to', async () => {
    const e = engine({capabilities: {cloud: true}, provider: {defaultVersions: {nats: '2.9.10'}}})
    const {forest: one} = await plant(e.deps, {nodes: 1, provider: 'memory', size: 'x'})
    const streams1 = async (): Promise<StreamsLook> => ({
      streams: [{account: '$G', current: true, followers: [], leader: 'node-1', name: 'ORDERS', replicas: 1}],
      unanswered: {},
    })
    const error = await rejection(upgradeForest(e.deps, {forestId: one.id, streams: streams1, wanted: {nats: '2.11.0'}}))
    expect(error).toMatchObject({kind: 'USAGE'})
    expect(error.message).toMatch(/holds R1 streams \(ORDERS on node-1\) on its one node: .* no other node to move them to first/)
    expect(error.hint).toContain('morpheus grow')
    expect(e.provider.calls.filter((c) => c.startsWith('replace'))).toEqual([])
  })

  test('refusals: streams not current, a node down, both or neither of --nats and --nimsforest', async () => {
    const {e, id} = await forest()
    const lagging = async (): Promise<StreamsLook> => ({
      streams: [
        {
          ...r3,
          current: false,
          followers: [
            {current: true, name: 'node-2'},
            {current: false, name: 'node-3'},
          ],
        },
      ],
      unanswered: {},
    })
    expect((await rejection(upgradeForest(e.deps, {forestId: id, streams: lagging, wanted: {nats: '2.11.0'}}))).message).toMatch(
      /not every replica .* \(R3: 2\/3 current, behind: node-3\)/,
    )
    expect((await rejection(upgradeForest(e.deps, {forestId: id, streams, wanted: {}}))).kind).toBe('USAGE')
    expect((await rejection(upgradeForest(e.deps, {forestId: id, streams, wanted: {nats: '2.11.0', nimsforest: 'x'}}))).kind).toBe('USAGE')
    e.provider.machines.get(`${id}/node-1`)!.running = false
    expect((await rejection(upgradeForest(e.deps, {forestId: id, streams, wanted: {nats: '2.11.0'}}))).message).toMatch(
      /is not healthy \(node-1: connection refused\)/,
    )
    expect(e.provider.calls.filter((c) => c.startsWith('replace'))).toEqual([])
  })

  test('runsTarget compares what the target names', () => {
    expect(runsTarget({versions: {nats: '2.9.10', nats_source: '/a'}}, {nats: '2.9.10'})).toBe(true)
    expect(runsTarget({versions: {nats: '2.9.10', nats_source: '/a'}}, {nats: '2.9.10', nats_source: '/b'})).toBe(false)
    expect(runsTarget({}, {nats: '2.9.10'})).toBe(false)
  })
})
