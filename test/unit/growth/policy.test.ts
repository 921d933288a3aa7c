import type {ForestMetrics} from '../../../src/growth/metrics.js'
import {claimGuard, cooldownUntil, decide, GROWTH_DEFAULTS, growthSettings} from '../../../src/growth/policy.js'
import type {ForestRecord, NodeRecord} from '../../../src/plugin-api/index.js'

const now = new Date('2026-11-24T12:00:00Z')
const forest = (extra: Partial<ForestRecord> = {}): ForestRecord => ({
  created_at: '2026-11-20T00:00:00Z',
  id: 'forest-1',
  last_expansion: null,
  node_count: 3,
  provider: 'local',
  size: 'medium',
  status: 'active',
  ...extra,
})
const metrics = (extra: Partial<ForestMetrics> = {}): ForestMetrics => ({
  connections: 0,
  cpu_max_percent: 40,
  cpu_percent: 40,
  healthy: 3,
  in_msgs: 0,
  memory_max_percent: 40,
  memory_percent: 40,
  nodes: 3,
  out_msgs: 0,
  reachable: 3,
  routes_missing: [],
  routes_ok: true,
  slow_consumers: 0,
  storage_max_percent: 0,
  storage_percent: 0,
  unreachable: 0,
  ...extra,
})
const node = (id: string, status: NodeRecord['status'] = 'active'): NodeRecord => ({
  created_at: '',
  forest_id: 'forest-1',
  id,
  ip: '10.0.0.1',
  role: 'edge',
  status,
})
const s = GROWTH_DEFAULTS

describe('growthSettings', () => {
  test('defaults, config values, and --threshold replacing every threshold', () => {
    expect(growthSettings(undefined)).toEqual(GROWTH_DEFAULTS)
    expect(growthSettings({cooldown_minutes: 5, max_nodes: 4, threshold_cpu: 70})).toMatchObject({
      cooldown_minutes: 5,
      max_nodes: 4,
      threshold_cpu: 70,
      threshold_memory: 80,
    })
    expect(growthSettings({threshold_cpu: 70, threshold_memory: 90}, 50)).toMatchObject({
      threshold_cpu: 50,
      threshold_memory: 50,
      threshold_storage: 50,
    })
    expect(growthSettings({enabled: false}).enabled).toBe(false)
    expect(growthSettings({max_nodes: 'ten'}).max_nodes).toBe(10)
  })
})

describe('decide', () => {
  const d = (m: Partial<ForestMetrics>, extra: {forest?: Partial<ForestRecord>; nodeCount?: number; settings?: Partial<typeof s>} = {}) =>
    decide({forest: forest(extra.forest), metrics: metrics(m), nodeCount: extra.nodeCount ?? 3, now, settings: {...s, ...extra.settings}})

  test('below every threshold: no action', () => {
    expect(d({})).toMatchObject({count: 0, reason: 'below_threshold', status: 'no_action'})
    expect(d({cpu_percent: 80, memory_percent: 80})).toMatchObject({status: 'no_action'})
  })

  test('above a threshold: add one node, naming each threshold crossed', () => {
    expect(d({memory_percent: 82})).toMatchObject({
      count: 1,
      reason: 'memory_above_threshold',
      reasons: ['memory_above_threshold'],
      status: 'expanded',
    })
    expect(d({cpu_percent: 95, storage_percent: 90})).toMatchObject({
      reason: 'cpu_above_threshold',
      reasons: ['cpu_above_threshold', 'storage_above_threshold'],
      status: 'expanded',
    })
  })

  test('max_per_run bounds the count; the count is what brings the average under the threshold', () => {
    // 3 nodes at 200 % of 80: 8 nodes would carry it, so 5 more; max_per_run 2 allows 2.
    expect(d({cpu_percent: 200}, {settings: {max_per_run: 2}}).count).toBe(2)
    expect(d({cpu_percent: 90}, {settings: {max_per_run: 5}}).count).toBe(1)
    expect(d({cpu_percent: 200}, {settings: {max_per_run: 10}}).count).toBe(5)
    // ... and never past max_nodes.
    expect(d({cpu_percent: 200}, {settings: {max_nodes: 5, max_per_run: 10}}).count).toBe(2)
  })

  test('at max_nodes: nothing added, status at_max_nodes', () => {
    expect(d({cpu_percent: 95}, {nodeCount: 10})).toMatchObject({count: 0, status: 'at_max_nodes'})
    expect(d({cpu_percent: 95}, {nodeCount: 3, settings: {max_nodes: 3}})).toMatchObject({status: 'at_max_nodes'})
  })

  test('cooldown from the forest record: until last_expansion + cooldown_minutes', () => {
    const recent = {last_expansion: '2026-11-24T11:50:00Z'}
    expect(d({cpu_percent: 95}, {forest: recent})).toMatchObject({cooldown_until: '2026-11-24T12:05:00.000Z', status: 'cooldown'})
    expect(d({cpu_percent: 95}, {forest: recent, settings: {cooldown_minutes: 10}})).toMatchObject({status: 'expanded'})
    expect(d({cpu_percent: 95}, {forest: recent, settings: {cooldown_minutes: 0}})).toMatchObject({status: 'expanded'})
    expect(d({cpu_percent: 95}, {forest: {last_expansion: '2026-11-24T11:40:00Z'}})).toMatchObject({status: 'expanded'})
  })

  test('too many unreachable nodes: no growth, whatever the load (a network fault is not load)', () => {
    const r = d({cpu_percent: 99, reachable: 2, unreachable: 1})
    expect(r).toMatchObject({count: 0, reason: 'nodes_unreachable', status: 'no_action'})
    expect(r.message).toContain('1 of 3 nodes did not answer')
    expect(d({cpu_percent: 99, reachable: 2, unreachable: 1}, {settings: {max_unreachable: 1}})).toMatchObject({status: 'expanded'})
  })

  test('a forest that is not active, or has no nodes, does not grow', () => {
    expect(d({cpu_percent: 99}, {forest: {status: 'planting'}})).toMatchObject({reason: 'forest_not_active', status: 'no_action'})
    expect(d({cpu_percent: 99, nodes: 0}, {nodeCount: 0})).toMatchObject({reason: 'no_nodes', status: 'no_action'})
  })

  test('no figures at all: no action, and the reason says so', () => {
    expect(d({cpu_percent: null, memory_percent: null, storage_percent: null})).toMatchObject({reason: 'no_metrics', status: 'no_action'})
  })
})

describe('cooldownUntil and the claim guard', () => {
  test('cooldownUntil', () => {
    expect(cooldownUntil({last_expansion: null}, 15, now)).toBeNull()
    expect(cooldownUntil({last_expansion: '2026-11-24T11:59:00Z'}, 15, now)?.toISOString()).toBe('2026-11-24T12:14:00.000Z')
    expect(cooldownUntil({last_expansion: '2026-11-24T11:00:00Z'}, 15, now)).toBeNull()
  })

  test('the guard refuses what another run changed since we looked, and says why', () => {
    const g = claimGuard(s, 1)
    expect(g.guard(forest(), [node('node-1'), node('node-2')], now)).toBeUndefined()
    expect(g.refusal()).toBeUndefined()
    // Another device expanded a moment ago: the claim sees it in the document.
    expect(g.guard(forest({last_expansion: '2026-11-24T11:59:30Z'}), [node('node-1')], now)).toMatch(/another run got there first/)
    expect(g.refusal()).toMatchObject({reason: 'cooldown', status: 'cooldown'})
    // Nodes being deleted do not count; reserved ones (another grow) do.
    const ten = Array.from({length: 10}, (_, i) => node(`node-${i + 1}`, i === 9 ? 'reserved' : 'active'))
    expect(g.guard(forest(), ten, now)).toMatch(/max_nodes is 10/)
    expect(g.refusal()?.status).toBe('at_max_nodes')
    expect(
      g.guard(
        forest(),
        ten.map((n, i) => (i === 9 ? {...n, status: 'deleting' as const} : n)),
        now,
      ),
    ).toBeUndefined()
    expect(g.guard(forest({status: 'tearing_down'}), [], now)).toMatch(/tearing_down/)
  })
})
