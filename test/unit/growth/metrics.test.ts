import {forestMetrics, nodeMetrics, nodeState} from '../../../src/growth/metrics.js'
import type {NodeSample} from '../../../src/monitor/nats.js'

const GiB = 1024 ** 3

function sample(varz: NodeSample['varz'], extra: Partial<NodeSample> = {}): NodeSample {
  return {healthy: true, ms: 5, reachable: true, url: 'http://10.0.0.1:8222', varz, ...extra}
}

const dead: NodeSample = {error: 'timed out', healthy: false, ms: 2000, reachable: false, url: 'http://10.0.0.9:8222'}

describe('nodeMetrics', () => {
  test('CPU % is cpu / cores: NATS reports 150 on two busy cores as 75 %', () => {
    const m = nodeMetrics({address: '10.0.0.1', id: 'node-1'}, sample({cores: 2, cpu: 150, mem: GiB}), 4 * GiB, 3)
    expect(m.cpu_percent).toBe(75)
    expect(m.memory_percent).toBe(25)
    expect(m.mem_bytes).toBe(GiB)
    expect(m.memory_bytes).toBe(4 * GiB)
    expect(m.routes_expected).toBe(2)
  })

  test('memory % is unknown without the node memory; storage % comes from /jsz', () => {
    const m = nodeMetrics(
      {address: 'a', id: 'n'},
      sample({cores: 4, cpu: 10, mem: 100}, {jsz: {config: {max_storage: 1000}, storage: 333}}),
      null,
      1,
    )
    expect(m.memory_percent).toBeNull()
    expect(m.cpu_percent).toBe(2.5)
    expect(m.storage_percent).toBe(33.3)
    expect(m.routes_expected).toBe(0)
  })

  test('without JetStream the storage % is unknown, not zero', () => {
    expect(nodeMetrics({address: 'a', id: 'n'}, sample({cores: 1, cpu: 1, mem: 1}), 10, 1).storage_percent).toBeNull()
  })

  test('routes come from /routez, else /varz', () => {
    expect(nodeMetrics({address: 'a', id: 'n'}, sample({routes: 1}, {routez: {num_routes: 2}}), 1, 3).routes).toBe(2)
    expect(nodeMetrics({address: 'a', id: 'n'}, sample({routes: 1}), 1, 3).routes).toBe(1)
  })

  test('an unreachable node has no figures and says why', () => {
    const m = nodeMetrics({address: '10.0.0.9', id: 'node-9'}, dead, GiB, 3)
    expect(m).toMatchObject({
      cpu_percent: null,
      error: 'timed out',
      healthy: false,
      memory_percent: null,
      reachable: false,
      routes: 0,
      storage_percent: null,
    })
  })

  test('a reachable but unhealthy node carries the health error', () => {
    const m = nodeMetrics(
      {address: 'a', id: 'n'},
      sample({cpu: 1, cores: 1}, {health_error: 'JetStream not current', healthy: false}),
      1,
      1,
    )
    expect(m).toMatchObject({error: 'JetStream not current', healthy: false, reachable: true})
  })
})

describe('forestMetrics', () => {
  const node = (id: string, cpu: number, cores: number, mem: number, routes: number, msgs: [number, number], conns: number) =>
    nodeMetrics({address: id, id}, sample({connections: conns, cores, cpu, in_msgs: msgs[0], mem, out_msgs: msgs[1], routes}), 100, 3)

  test('averages and maxima over the nodes that answer; totals of messages and connections', () => {
    const f = forestMetrics([
      node('node-1', 80, 2, 78, 2, [1000, 2000], 10),
      node('node-2', 100, 2, 86, 2, [200, 400], 5),
      nodeMetrics({address: 'x', id: 'node-3'}, dead, 100, 3),
    ])
    expect(f).toMatchObject({
      connections: 15,
      cpu_max_percent: 50,
      cpu_percent: 45,
      healthy: 2,
      in_msgs: 1200,
      memory_max_percent: 86,
      memory_percent: 82,
      nodes: 3,
      out_msgs: 2400,
      reachable: 2,
      routes_ok: false,
      routes_missing: [],
      unreachable: 1,
    })
  })

  test('route health: every node must see N-1 routes', () => {
    expect(
      forestMetrics([node('a', 1, 1, 1, 2, [0, 0], 0), node('b', 1, 1, 1, 2, [0, 0], 0), node('c', 1, 1, 1, 2, [0, 0], 0)]).routes_ok,
    ).toBe(true)
    const gap = forestMetrics([node('a', 1, 1, 1, 2, [0, 0], 0), node('b', 1, 1, 1, 1, [0, 0], 0), node('c', 1, 1, 1, 2, [0, 0], 0)])
    expect(gap.routes_ok).toBe(false)
    expect(gap.routes_missing).toEqual(['b'])
  })

  test('no node answering gives unknown averages, not zeros', () => {
    const f = forestMetrics([nodeMetrics({address: 'x', id: 'n'}, dead, 1, 1)])
    expect(f.cpu_percent).toBeNull()
    expect(f.memory_max_percent).toBeNull()
    expect(f.routes_ok).toBe(false)
  })
})

describe('nodeState', () => {
  const t = {cpu: 80, memory: 80, storage: 80}
  test('healthy, warning over a threshold or missing routes or unhealthy, unreachable', () => {
    const ok = nodeMetrics({address: 'a', id: 'n'}, sample({cores: 1, cpu: 40, mem: 78, routes: 1}), 100, 2)
    expect(nodeState(ok, t)).toBe('healthy')
    expect(nodeState({...ok, memory_percent: 86}, t)).toBe('warning')
    expect(nodeState({...ok, cpu_percent: 80}, t)).toBe('healthy')
    expect(nodeState({...ok, routes: 0}, t)).toBe('warning')
    expect(nodeState({...ok, healthy: false}, t)).toBe('warning')
    expect(nodeState(nodeMetrics({address: 'a', id: 'n'}, dead, 100, 2), t)).toBe('unreachable')
  })
})
