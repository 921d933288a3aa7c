import {runsTarget, upgradeForest} from '../../../src/forest/upgrade.js'
import type {StreamsLook} from '../../../src/monitor/streams.js'
import {engine, plant, stored} from '../../helpers/engine.js'
import {rejection} from '../../helpers/unit.js'

const r3 = {
  account: '$G',
  current: true,
  followers: [
    {current: true, name: 'node-2'},
    {current: true, name: 'node-3'},
  ],
  leader: 'node-1',
  name: 'R3',
  replicas: 3,
}
const streams = async (): Promise<StreamsLook> => ({streams: [r3], unanswered: {}})

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

  test('a cloud forest with an R1 stream on a node to upgrade is refused before anything is changed', async () => {
    const {e, id} = await forest({capabilities: {cloud: true}})
    const withR1 = async (): Promise<StreamsLook> => ({
      streams: [r3, {account: '$G', current: true, followers: [], leader: 'node-2', name: 'EVENTS', replicas: 1}],
      unanswered: {},
    })
    const error = await rejection(upgradeForest(e.deps, {forestId: id, streams: withR1, wanted: {nats: '2.11.0'}}))
    expect(error).toMatchObject({kind: 'USAGE'})
    expect(error.message).toMatch(/holds R1 streams on nodes to upgrade \(EVENTS on node-2\)/)
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
