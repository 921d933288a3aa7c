import {isFormed, type NodeHealth} from '../monitor/nats.js'
import type {ForestOperation, ForestRecord, NodeRecord, Provider} from '../plugin-api/index.js'
import {findForest} from '../registry/document.js'
import type {ForestDeps} from './deps.js'
import {endpointsOf, nodePorts} from './endpoints.js'
import {staleOperation} from './operation.js'
import {otherDevice} from './ownership.js'

export type ForestHealth = 'healthy' | 'degraded' | 'down' | 'empty' | 'elsewhere'

export interface NodeStatusView extends NodeRecord {
  monitor: string | null
  health: NodeHealth | null
}

export interface ForestStatusView {
  forest: ForestRecord
  /**
   * healthy: every node answers, routes to all others, one JetStream leader; degraded: some
   * answer (or all do but the cluster is not whole); down: none answers; empty: no nodes;
   * elsewhere: a machine-local forest of another device (not probed from here).
   */
  health: ForestHealth
  jetstream_leader: string | null
  /**
   * A leader the answering nodes still name although it is not one: fewer than a majority of the
   * nodes answer (no quorum), or the named leader itself does not answer. Null otherwise.
   */
  jetstream_leader_stale: string | null
  /** The device the nodes run on, when it is not this one (health is then `elsewhere`). */
  device: string | null
  /** A plant/grow/teardown that stopped without recording its end. */
  stale_operation: ForestOperation | null
  nodes: NodeStatusView[]
}

export function classify(health: readonly NodeHealth[]): Exclude<ForestHealth, 'elsewhere'> {
  if (health.length === 0) return 'empty'
  if (isFormed(health)) return 'healthy'
  return health.some((h) => h.reachable) ? 'degraded' : 'down'
}

/** Live status: each node's /healthz and route count, and the JetStream leader. */
export async function forestStatus(deps: ForestDeps, forestId: string): Promise<ForestStatusView> {
  const doc = await deps.store.read()
  const forest = findForest(doc, forestId)
  const nodes = doc.nodes[forestId] ?? []
  let provider: Provider | undefined
  let elsewhere: string | undefined
  try {
    const handle = await deps.provider(forest.provider)
    provider = handle.provider
    elsewhere = otherDevice(forest, handle.capabilities, deps.device)
  } catch (error) {
    elsewhere = otherDevice(forest, undefined, deps.device)
    if (!elsewhere)
      deps.log.warn(
        `provider ${forest.provider} is not usable here (${(error as Error).message}); probing each node's recorded address and ports`,
      )
  }
  const stale = staleOperation(forest, deps.device) ?? null
  if (elsewhere) {
    return {
      device: elsewhere,
      forest,
      health: 'elsewhere',
      jetstream_leader: null,
      jetstream_leader_stale: null,
      nodes: nodes.map((n) => ({...n, health: null, monitor: null})),
      stale_operation: stale,
    }
  }
  const urls = nodes.map((n) => {
    const ports = nodePorts(n, forest, deps.settings.ports)
    try {
      return endpointsOf(provider, n, ports).monitor
    } catch {
      return endpointsOf(undefined, n, ports).monitor
    }
  })
  const health = await deps.monitor(urls)
  const state = classify(health)
  const leader = jetstreamLeader(health)
  return {
    device: null,
    forest,
    health: state,
    ...leader,
    nodes: nodes.map((n, i) => ({...n, health: health[i], monitor: urls[i]})),
    stale_operation: stale,
  }
}

/**
 * The JetStream meta leader the healthy nodes agree on. It only counts while a majority of the
 * forest's nodes answer and the leader is one of them: otherwise what they name is stale.
 */
export function jetstreamLeader(health: readonly NodeHealth[]): {jetstream_leader: string | null; jetstream_leader_stale: string | null} {
  const named = new Set(health.filter((h) => h.healthy && h.jetstream_leader).map((h) => h.jetstream_leader!))
  if (named.size !== 1) return {jetstream_leader: null, jetstream_leader_stale: null}
  const leader = [...named][0]
  const answering = health.filter((h) => h.reachable)
  const quorum = Math.floor(health.length / 2) + 1
  const leaderAnswers = health.length === 1 || answering.some((h) => h.server_name === leader)
  return answering.length >= quorum && leaderAnswers
    ? {jetstream_leader: leader, jetstream_leader_stale: null}
    : {jetstream_leader: null, jetstream_leader_stale: leader}
}

/** The JetStream part of the status line, in words. */
export function describeLeader(view: Pick<ForestStatusView, 'jetstream_leader' | 'jetstream_leader_stale' | 'nodes'>): string {
  const total = view.nodes.length
  const answering = view.nodes.filter((n) => n.health?.reachable).length
  if (view.jetstream_leader) return `JetStream leader: ${view.jetstream_leader}`
  if (total === 1) return answering === 1 ? 'JetStream: standalone (one node)' : 'JetStream: not answering'
  const quorum = Math.floor(total / 2) + 1
  if (answering < quorum) {
    return `JetStream leader: none, no quorum (${answering} of ${total} node${total === 1 ? '' : 's'} answer${answering === 1 ? 's' : ''}, ${quorum} needed)${view.jetstream_leader_stale ? `; ${view.jetstream_leader_stale} is still named, stale` : ''}`
  }
  if (view.jetstream_leader_stale)
    return `JetStream leader: none; ${view.jetstream_leader_stale} is still named but does not answer (stale)`
  return 'JetStream leader: none agreed'
}
