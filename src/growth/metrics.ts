import type {NodeSample} from '../monitor/nats.js'

/** Load of one node, from one sample of its monitoring endpoints. Percentages are 0-100, rounded to 0.01 (a NATS server on a large machine uses well under 0.1 % of its memory, and "above 0 %" must still be true of it), null when unknown. */
export interface NodeMetrics {
  id: string
  address: string
  reachable: boolean
  healthy: boolean
  /** Process CPU divided by the cores it may use (NATS reports CPU per core, so 150 on two cores is 75 %). */
  cpu_percent: number | null
  /** Resident memory of the server process over the node's memory. */
  memory_percent: number | null
  /** JetStream file storage in use over the storage JetStream may use. */
  storage_percent: number | null
  mem_bytes: number | null
  memory_bytes: number | null
  connections: number
  in_msgs: number
  out_msgs: number
  slow_consumers: number
  routes: number
  /** The routes this node should see: every other node of the forest. */
  routes_expected: number
  /** Why the node is unreachable or not healthy. */
  error?: string
}

/** The forest at a glance: averages and maxima over the nodes that answered. */
export interface ForestMetrics {
  nodes: number
  reachable: number
  unreachable: number
  healthy: number
  cpu_percent: number | null
  memory_percent: number | null
  storage_percent: number | null
  cpu_max_percent: number | null
  memory_max_percent: number | null
  storage_max_percent: number | null
  connections: number
  in_msgs: number
  out_msgs: number
  slow_consumers: number
  /** Every node answers and sees N-1 routes. */
  routes_ok: boolean
  /** Nodes that answer but see fewer than N-1 routes. */
  routes_missing: string[]
}

const round2 = (x: number) => Math.round(x * 100) / 100

function percent(part: number | undefined, whole: number | undefined | null): number | null {
  if (part === undefined || part === null || !whole || whole <= 0 || !Number.isFinite(part)) return null
  return round2((part / whole) * 100)
}

/**
 * One node's metrics. `memoryBytes` is the node's memory (NodeRecord.memory_bytes, the provider's
 * resources(), or this machine's RAM for local nodes); without it the memory percentage is unknown.
 */
export function nodeMetrics(
  node: {id: string; address: string},
  sample: NodeSample,
  memoryBytes: number | null | undefined,
  forestSize: number,
): NodeMetrics {
  const base = {
    address: node.address,
    id: node.id,
    memory_bytes: memoryBytes ?? null,
    routes_expected: Math.max(0, forestSize - 1),
  }
  if (!sample.reachable || !sample.varz) {
    return {
      ...base,
      connections: 0,
      cpu_percent: null,
      error: sample.error ?? 'unreachable',
      healthy: false,
      in_msgs: 0,
      mem_bytes: null,
      memory_percent: null,
      out_msgs: 0,
      reachable: false,
      routes: 0,
      slow_consumers: 0,
      storage_percent: null,
    }
  }
  const v = sample.varz
  const cores = v.cores && v.cores > 0 ? v.cores : 1
  const cpu = typeof v.cpu === 'number' && Number.isFinite(v.cpu) ? round2(v.cpu / cores) : null
  const js = sample.jsz
  return {
    ...base,
    connections: v.connections ?? 0,
    cpu_percent: cpu,
    healthy: sample.healthy,
    in_msgs: v.in_msgs ?? 0,
    mem_bytes: v.mem ?? null,
    memory_percent: percent(v.mem, memoryBytes),
    out_msgs: v.out_msgs ?? 0,
    reachable: true,
    routes: sample.routez?.num_routes ?? v.routes ?? 0,
    slow_consumers: v.slow_consumers ?? 0,
    storage_percent: js ? percent(js.storage ?? 0, js.config?.max_storage) : null,
    ...(sample.healthy ? {} : {error: sample.health_error ?? 'not healthy'}),
  }
}

function avg(values: Array<number | null>): number | null {
  const known = values.filter((v): v is number => v !== null)
  return known.length === 0 ? null : round2(known.reduce((a, b) => a + b, 0) / known.length)
}

function max(values: Array<number | null>): number | null {
  const known = values.filter((v): v is number => v !== null)
  return known.length === 0 ? null : Math.max(...known)
}

/** Averages and maxima over the nodes that answered; totals of messages and connections; route health. */
export function forestMetrics(nodes: readonly NodeMetrics[]): ForestMetrics {
  const up = nodes.filter((n) => n.reachable)
  const missing = up.filter((n) => n.routes < n.routes_expected).map((n) => n.id)
  const sum = (f: (n: NodeMetrics) => number) => up.reduce((a, n) => a + f(n), 0)
  return {
    connections: sum((n) => n.connections),
    cpu_max_percent: max(up.map((n) => n.cpu_percent)),
    cpu_percent: avg(up.map((n) => n.cpu_percent)),
    healthy: up.filter((n) => n.healthy).length,
    in_msgs: sum((n) => n.in_msgs),
    memory_max_percent: max(up.map((n) => n.memory_percent)),
    memory_percent: avg(up.map((n) => n.memory_percent)),
    nodes: nodes.length,
    out_msgs: sum((n) => n.out_msgs),
    reachable: up.length,
    routes_missing: missing,
    routes_ok: nodes.length > 0 && up.length === nodes.length && missing.length === 0,
    slow_consumers: sum((n) => n.slow_consumers),
    storage_max_percent: max(up.map((n) => n.storage_percent)),
    storage_percent: avg(up.map((n) => n.storage_percent)),
    unreachable: nodes.length - up.length,
  }
}

export type NodeState = 'healthy' | 'warning' | 'unreachable'

/** How the node table marks a node: unreachable, warning (unhealthy, missing routes, or over a threshold), or healthy. */
export function nodeState(n: NodeMetrics, thresholds: {cpu: number; memory: number; storage: number}): NodeState {
  if (!n.reachable) return 'unreachable'
  if (!n.healthy || n.routes < n.routes_expected) return 'warning'
  const over = (v: number | null, t: number) => v !== null && v > t
  if (over(n.cpu_percent, thresholds.cpu) || over(n.memory_percent, thresholds.memory) || over(n.storage_percent, thresholds.storage))
    return 'warning'
  return 'healthy'
}
