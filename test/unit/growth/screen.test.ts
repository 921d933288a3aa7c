import {nodeMetrics, forestMetrics, nodeState} from '../../../src/growth/metrics.js'
import {ordered, type GrowResult} from '../../../src/growth/result.js'
import type {NodeSample} from '../../../src/monitor/nats.js'
import type {ForestRecord} from '../../../src/plugin-api/index.js'
import {bar, count, growScreen, pct, price, recommendation} from '../../../src/ui/grow-screen.js'

const GiB = 2 ** 30
const now = Date.parse('2026-11-24T12:00:00Z')
const forest: ForestRecord = {
  created_at: '2026-11-22T12:00:00Z',
  id: 'forest-1234567890',
  last_expansion: null,
  location: 'fsn1',
  node_count: 2,
  provider: 'hetzner',
  size: 'small',
  status: 'active',
}
const sample = (cpu: number, mem: number, routes: number, msgs: [number, number]): NodeSample => ({
  healthy: true,
  ms: 3,
  reachable: true,
  routez: {num_routes: routes},
  url: 'x',
  varz: {connections: 20, cores: 2, cpu: cpu * 2, in_msgs: msgs[0], mem: (mem * GiB) / 100, out_msgs: msgs[1]},
})

/** The seeds' example: node-1 40 % CPU, 78 % memory; node-2 50 %, 86 %; 80 % thresholds. */
function seedsResult(): GrowResult {
  const t = {cpu: 80, memory: 80, storage: 80}
  const nodes = [
    nodeMetrics({address: '2a01:4f8::1', id: 'node-1'}, sample(40, 78, 1, [600_000, 1_700_000]), GiB, 2),
    nodeMetrics({address: '2a01:4f8::2', id: 'node-2'}, sample(50, 86, 1, [600_000, 1_700_000]), GiB, 2),
  ]
  const metrics = forestMetrics(nodes)
  return {
    action: {
      count: 1,
      monthly_price: {amount: 3.49, currency: 'EUR'},
      node_id: 'node-3',
      node_ids: ['node-3'],
      nodes_after: 3,
      type: 'provision_node',
    },
    forest_id: forest.id,
    message: 'memory 82% > 80%: add 1 node',
    metrics,
    nodes: nodes.map((n) => ({...n, state: nodeState(n, t)})),
    reason: 'memory_above_threshold',
    status: 'expanded',
    thresholds: t,
  }
}

describe('the grow screen', () => {
  test('renders the seeds example: header, summary, bars, node table, warning, recommendation with the price', () => {
    const screen = growScreen(forest, seedsResult(), now)
    expect(screen).toContain('🌲 Forest: forest-1234567890\n   Provider: hetzner (fsn1)\n   Created: 2d ago')
    expect(screen).toContain('   Nodes: 2 connected')
    expect(screen).toContain('   Routes: full mesh (each node sees 1 route)')
    expect(screen).toContain('   Messages: 1.2M in / 3.4M out')
    expect(screen).toContain('   Connections: 40')
    expect(screen).toContain(`   CPU:     45% ${'█'.repeat(11)}${'░'.repeat(14)} (max 50%)\n`)
    expect(screen).toContain(`   Memory:  82% ${'█'.repeat(21)}${'░'.repeat(4)} ⚠️`)
    expect(screen).toMatch(/node-1 +2a01:4f8::1 +40% +78% +- +1\/1 +healthy/)
    expect(screen).toMatch(/node-2 +2a01:4f8::2 +50% +86% +- +1\/1 +warning/)
    expect(screen).toContain('   Storage:   - (no node reported it)')
    expect(screen).toContain('⚠️  Memory usage above 80% threshold')
    expect(screen).not.toContain('CPU usage above')
    expect(screen.trimEnd().endsWith('Recommendation: Add 1 node (~€3.49/month)')).toBe(true)
  })

  test('unreachable nodes and missing routes are shown as such', () => {
    const r = seedsResult()
    const dead = nodeMetrics(
      {address: '2a01:4f8::3', id: 'node-3'},
      {error: 'timed out', healthy: false, ms: 2000, reachable: false, url: 'x'},
      GiB,
      3,
    )
    const nodes = [...r.nodes.map((n) => ({...n, routes_expected: 2})), {...dead, state: 'unreachable' as const}]
    const screen = growScreen(
      forest,
      {
        ...r,
        metrics: forestMetrics(nodes),
        nodes,
        reason: 'nodes_unreachable',
        status: 'no_action',
        action: null,
        message: '1 of 3 nodes did not answer',
      },
      now,
    )
    expect(screen).toContain('Nodes: 2 of 3 answering, 1 unreachable')
    expect(screen).toContain('Routes: incomplete: node-1, node-2 see fewer than 2')
    expect(screen).toMatch(/node-3 +2a01:4f8::3 +- +- +- +- +unreachable \(timed out\)/)
    expect(screen).toContain('⚠️  1 node unreachable')
    expect(screen).toContain('No growth: 1 of 3 nodes did not answer.')
  })

  test('pieces: bars, counts, percentages, prices, recommendations', () => {
    expect(bar(0)).toBe('░'.repeat(25))
    expect(bar(100)).toBe('█'.repeat(25))
    expect(bar(250)).toBe('█'.repeat(25))
    expect(bar(null)).toBe('·'.repeat(25))
    expect([count(999), count(3400), count(1_234_567), count(2e9)]).toEqual(['999', '3.4K', '1.2M', '2.0G'])
    expect([pct(null), pct(0), pct(0.04), pct(0.34), pct(9.96), pct(45.4)]).toEqual(['-', '0%', '<0.1%', '0.3%', '10%', '45%'])
    expect(price(null)).toBe('price unknown')
    expect(price({amount: 0, currency: 'EUR'})).toBe('no extra cost')
    expect(price({amount: 3.49, currency: 'EUR'}, 2)).toBe('~€6.98/month')
    expect(price({amount: 5, currency: 'CHF'})).toBe('~5 CHF/month')
    const r = seedsResult()
    expect(recommendation({...r, action: {...r.action!, count: 2}})).toBe('Recommendation: Add 2 nodes (~€6.98/month)')
    expect(recommendation({...r, action: null, message: 'growth.max_nodes is 3', status: 'at_max_nodes'})).toContain(
      'morpheus config set growth.max_nodes',
    )
    expect(recommendation({...r, action: null, reason: 'below_threshold', status: 'no_action'})).toBe(
      'No growth needed: usage is within the thresholds.',
    )
  })

  test('the JSON result starts with the seeds fields, in order', () => {
    expect(Object.keys(ordered(seedsResult())).slice(0, 6)).toEqual(['forest_id', 'status', 'reason', 'message', 'metrics', 'action'])
  })
})
