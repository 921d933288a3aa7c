/**
 * JetStream streams and their replicas, read from the monitoring port over plain HTTP
 * (`/jsz?accounts=true&streams=true&config=true`): the operator's machine reaches monitoring, not
 * the client port. Only a stream's leader knows whether its followers are current (a follower
 * reports its peers as not current), so each stream is judged from its leader's own view.
 */
import {describeFetchError} from './nats.js'

export interface ReplicaView {
  name: string
  current: boolean
  offline?: boolean
  lag?: number
}

export interface StreamView {
  account: string
  name: string
  /** num_replicas of the stream's config. */
  replicas: number
  /** The node that leads it, as the nodes report (null: none does). */
  leader: string | null
  /** The leader's followers, as the leader sees them (empty for R1). */
  followers: ReplicaView[]
  /** Every replica exists and is current (R1: its one node answers and leads it). */
  current: boolean
}

export interface StreamsLook {
  streams: StreamView[]
  /** Nodes whose /jsz did not answer, with the reason. */
  unanswered: Record<string, string>
}

interface JszStream {
  name: string
  config?: {num_replicas?: number}
  cluster?: {leader?: string; replicas?: Array<{name: string; current?: boolean; offline?: boolean; lag?: number}>}
}
interface JszAccounts {
  account_details?: Array<{name?: string; id?: string; stream_detail?: JszStream[]}>
}

/** One look at every node's streams; `nodes` name each node as its server_name (the node id). */
export async function lookAtStreams(nodes: ReadonlyArray<{name: string; monitor: string}>, timeoutMs = 3000): Promise<StreamsLook> {
  const unanswered: Record<string, string> = {}
  const views = new Map<string, {stream: JszStream; account: string; from: string}[]>()
  await Promise.all(
    nodes.map(async (node) => {
      try {
        const response = await fetch(`${node.monitor.replace(/\/+$/, '')}/jsz?accounts=true&streams=true&config=true`, {
          signal: AbortSignal.timeout(timeoutMs),
        })
        if (response.status !== 200) {
          await response.body?.cancel()
          unanswered[node.name] = `/jsz answered ${response.status}`
          return
        }
        const body = (await response.json()) as JszAccounts
        for (const account of body.account_details ?? []) {
          const accountName = account.name ?? account.id ?? '?'
          for (const stream of account.stream_detail ?? []) {
            const key = `${accountName}\u0000${stream.name}`
            const list = views.get(key) ?? []
            list.push({account: accountName, from: node.name, stream})
            views.set(key, list)
          }
        }
      } catch (error) {
        unanswered[node.name] = describeFetchError(error)
      }
    }),
  )
  const streams: StreamView[] = []
  for (const list of views.values()) {
    const replicas = Math.max(...list.map((v) => v.stream.config?.num_replicas ?? 1))
    const leaderName = list.find((v) => v.stream.cluster?.leader)?.stream.cluster?.leader ?? null
    const own = list.find((v) => v.from === leaderName && v.stream.cluster?.leader === v.from)
    const followers = (own?.stream.cluster?.replicas ?? []).map((r) => ({
      current: Boolean(r.current),
      name: r.name,
      ...(r.offline ? {offline: true} : {}),
      ...(r.lag === undefined ? {} : {lag: r.lag}),
    }))
    const current = Boolean(own) && followers.length === replicas - 1 && followers.every((f) => f.current && !f.offline)
    streams.push({account: list[0].account, current, followers, leader: own ? leaderName : null, name: list[0].stream.name, replicas})
  }
  streams.sort((a, b) => a.name.localeCompare(b.name) || a.account.localeCompare(b.account))
  return {streams, unanswered}
}

/** /healthz?js-enabled-only=true: the server runs with JetStream enabled (what an upgrade waits for per node). */
export async function jetstreamEnabled(monitor: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const response = await fetch(`${monitor.replace(/\/+$/, '')}/healthz?js-enabled-only=true`, {signal: AbortSignal.timeout(timeoutMs)})
    const body = (await response.json().catch(() => ({}))) as {status?: string}
    return response.status === 200 && body.status === 'ok'
  } catch {
    return false
  }
}
