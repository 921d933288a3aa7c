import {totalmem} from 'node:os'

import {sampleAll, type NodeSample} from '../monitor/nats.js'
import type {ForestRecord, NodeEndpoints, NodeRecord, NodeResources} from '../plugin-api/index.js'
import {forestMetrics, nodeMetrics, type ForestMetrics, type NodeMetrics} from './metrics.js'
import {countedNodes} from './policy.js'

/** What observing a forest needs: narrow, so tests and the bench can hand in their own. */
export interface ObserveDeps {
  /** The node's monitoring and client URLs (the provider's endpoints(), else the recorded address). */
  endpoints(node: NodeRecord): NodeEndpoints
  /** The provider's resources() for a node, if it has one. */
  resources?: (node: NodeRecord) => Promise<NodeResources>
  /** The provider's nodes are processes of this machine: a node's memory is this machine's RAM. */
  machineLocal: boolean
  /** Per-node timeout for the monitoring requests, ms. */
  timeoutMs: number
  signal?: AbortSignal
}

export interface ForestObservation {
  forest: ForestRecord
  /** The nodes probed (every node the registry lists but those reserved or being deleted). */
  nodes: NodeRecord[]
  /** The forest's size as growth counts it (every node but those being deleted). */
  size: number
  samples: NodeSample[]
  metrics: NodeMetrics[]
  summary: ForestMetrics
  /** Monthly price of one more node, when the provider knows it. */
  monthly_price: {amount: number; currency: string} | null
  /** How long observing took, ms. */
  ms: number
}

async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))])
  } catch {
    return undefined
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Sample every node of a forest at once (/varz, /routez, /healthz, /jsz; one timeout per node),
 * find each node's memory (recorded, the provider's, or this machine's for local nodes) at the
 * same time, and turn it all into metrics. Never throws for a node that does not answer.
 */
export async function observeForest(deps: ObserveDeps, forest: ForestRecord, all: readonly NodeRecord[]): Promise<ForestObservation> {
  const started = Date.now()
  const size = countedNodes(all).length
  const nodes = all.filter((n) => n.status !== 'deleting' && n.status !== 'reserved' && (n.probe_address || n.ip))
  const urls = nodes.map((n) => {
    try {
      return deps.endpoints(n).monitor
    } catch {
      return ''
    }
  })
  const resources = deps.resources
  const memoryOf = async (n: NodeRecord): Promise<number | null> => {
    if (n.memory_bytes) return n.memory_bytes
    const r = resources ? await within(resources(n), deps.timeoutMs) : undefined
    if (r?.memory_bytes) return r.memory_bytes
    return deps.machineLocal ? totalmem() : null
  }
  const last = nodes.at(-1)
  const [samples, memory, price] = await Promise.all([
    sampleAll(urls, {signal: deps.signal, timeoutMs: deps.timeoutMs}).then((s) =>
      s.map((x, i) => (urls[i] ? x : {...x, error: 'no monitoring address', reachable: false})),
    ),
    Promise.all(nodes.map(memoryOf)),
    last && resources ? within(resources(last), deps.timeoutMs).then((r) => r?.monthly_price ?? null) : Promise.resolve(null),
  ])
  const metrics = nodes.map((n, i) => nodeMetrics({address: n.probe_address || n.ip, id: n.id}, samples[i], memory[i], nodes.length))
  return {forest, metrics, monthly_price: price, ms: Date.now() - started, nodes, samples, size, summary: forestMetrics(metrics)}
}
