import type {ForestRecord, NodeRecord, NatsPorts, NodeEndpoints} from '../plugin-api/index.js'
import {probeAll, isFormed, type NodeHealth} from '../monitor/nats.js'
import {urlHost} from '../net.js'
import {findForest} from '../registry/document.js'
import {readRegistry} from '../registry/update.js'
import type {Runtime} from '../runtime.js'

export interface NodeStatusView extends NodeRecord {
  monitor: string
  health: NodeHealth
}

export interface ForestStatusView {
  forest: ForestRecord
  /** healthy: formed; degraded: some nodes answer; down: none answers; empty: no nodes. */
  health: 'healthy' | 'degraded' | 'down' | 'empty'
  jetstream_leader: string | null
  nodes: NodeStatusView[]
}

function defaultEndpoints(node: NodeRecord, ports: NatsPorts): NodeEndpoints {
  const host = urlHost(node.ip)
  return {client: `nats://${host}:${ports.client}`, monitor: `http://${host}:${ports.monitor}`}
}

/** Live status: each node's /healthz and route count, and the JetStream leader. */
export async function forestStatus(runtime: Runtime, forestId: string): Promise<ForestStatusView> {
  const {backend} = await runtime.registry()
  const {doc} = await readRegistry(backend)
  const forest = findForest(doc, forestId)
  const nodes = doc.nodes[forestId] ?? []
  let endpoints = (n: NodeRecord) => defaultEndpoints(n, runtime.ports)
  try {
    const {provider} = await runtime.provider(forest.provider)
    endpoints = (n) => {
      try {
        return provider.endpoints(n, runtime.ports)
      } catch {
        return defaultEndpoints(n, runtime.ports)
      }
    }
  } catch (error) {
    runtime.log.warn(`provider ${forest.provider} is not usable here (${(error as Error).message}); probing the recorded addresses`)
  }
  const urls = nodes.map((n) => endpoints(n).monitor)
  const health = await probeAll(urls)
  const answering = health.filter((h) => h.healthy).length
  return {
    forest,
    health: nodes.length === 0 ? 'empty' : isFormed(health) ? 'healthy' : answering > 0 ? 'degraded' : 'down',
    jetstream_leader: health.find((h) => h.jetstream_leader)?.jetstream_leader ?? null,
    nodes: nodes.map((n, i) => ({...n, health: health[i], monitor: urls[i]})),
  }
}
