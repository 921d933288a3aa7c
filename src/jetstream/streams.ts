// Streams of a forest and where their replicas are: listing, waiting until every replica is current,
// and moving replicas off a server (stream peer-remove), through the JetStream API of the global
// account (the account a forest's streams live in).
import type {NatsConnection} from '@nats-io/transport-node'

import {MorpheusError} from '../errors.js'
import {api, API_PREFIX, ERR, isJetStreamError} from './api.js'

export interface StreamConfig {
  name: string
  subjects?: string[]
  num_replicas: number
  [key: string]: unknown
}

export interface StreamState {
  messages: number
  bytes: number
  first_seq: number
  last_seq: number
  consumer_count: number
  [key: string]: unknown
}

interface PeerInfo {
  name: string
  current: boolean
  offline?: boolean
  lag?: number
}

export interface StreamInfo {
  config: StreamConfig
  state: StreamState
  cluster?: {name?: string; leader?: string; replicas?: PeerInfo[]}
}

/** One replica of a stream or consumer on one server. */
export interface Replica {
  server: string
  leader: boolean
  current: boolean
  lag: number
}

/** A stream and its replicas per server (consumers' replicas too). */
export interface StreamPlacement {
  name: string
  /** The configured replica count. */
  replicas: number
  messages: number
  /** One entry per server holding a replica (empty on a server running JetStream standalone: no cluster info). */
  peers: Replica[]
  leader: string | null
  consumers: Array<{name: string; leader: string | null; peers: Replica[]}>
}

function peersOf(cluster: StreamInfo['cluster']): Replica[] {
  if (!cluster?.leader) return (cluster?.replicas ?? []).map((r) => ({current: false, lag: r.lag ?? 0, leader: false, server: r.name}))
  return [
    {current: true, lag: 0, leader: true, server: cluster.leader},
    ...(cluster.replicas ?? []).map((r) => ({current: Boolean(r.current) && !r.offline, lag: r.lag ?? 0, leader: false, server: r.name})),
  ]
}

export async function streamInfo(nc: NatsConnection, name: string): Promise<StreamInfo> {
  return api<StreamInfo>(nc, `${API_PREFIX}.STREAM.INFO.${name}`)
}

/** Every stream's full info, page by page. */
export async function streamInfos(nc: NatsConnection): Promise<StreamInfo[]> {
  const out: StreamInfo[] = []
  for (let offset = 0; ;) {
    const page = await api<{streams: StreamInfo[] | null; total: number; limit: number}>(nc, `${API_PREFIX}.STREAM.LIST`, {offset})
    const streams = page.streams ?? []
    out.push(...streams)
    offset += streams.length
    if (streams.length === 0 || offset >= page.total) return out
  }
}

async function consumerPlacements(nc: NatsConnection, stream: string): Promise<StreamPlacement['consumers']> {
  const out: StreamPlacement['consumers'] = []
  for (let offset = 0; ;) {
    const page = await api<{consumers: Array<{name: string; cluster?: StreamInfo['cluster']}> | null; total: number}>(
      nc,
      `${API_PREFIX}.CONSUMER.LIST.${stream}`,
      {offset},
    )
    const consumers = page.consumers ?? []
    for (const c of consumers) out.push({leader: c.cluster?.leader ?? null, name: c.name, peers: peersOf(c.cluster)})
    offset += consumers.length
    if (consumers.length === 0 || offset >= page.total) return out
  }
}

export function placementOf(info: StreamInfo, consumers: StreamPlacement['consumers'] = []): StreamPlacement {
  return {
    consumers,
    leader: info.cluster?.leader ?? null,
    messages: info.state.messages,
    name: info.config.name,
    peers: peersOf(info.cluster),
    replicas: info.config.num_replicas,
  }
}

/** Every stream of the account with its replicas per server (and its consumers'). */
export async function listPlacements(nc: NatsConnection): Promise<StreamPlacement[]> {
  const infos = await streamInfos(nc)
  const out: StreamPlacement[] = []
  for (const info of infos) out.push(placementOf(info, info.state.consumer_count > 0 ? await consumerPlacements(nc, info.config.name) : []))
  return out
}

/** Why a stream (or one of its consumers) is not fully current yet, or undefined when it is. */
export function notCurrent(p: StreamPlacement, away?: string): string | undefined {
  if (!p.leader) return `${p.name} has no leader`
  if (away && p.peers.some((r) => r.server === away)) return `${p.name} still has a replica on ${away}`
  if (p.peers.length !== p.replicas) return `${p.name} has ${p.peers.length} of ${p.replicas} replicas`
  const behind = p.peers.find((r) => !r.current)
  if (behind) return `${p.name}'s replica on ${behind.server} is not current${behind.lag ? ` (${behind.lag} behind)` : ''}`
  for (const c of p.consumers) {
    if (!c.leader) return `consumer ${p.name} > ${c.name} has no leader`
    if (away && c.peers.some((r) => r.server === away)) return `consumer ${p.name} > ${c.name} still has a replica on ${away}`
    const late = c.peers.find((r) => !r.current)
    if (late) return `consumer ${p.name} > ${c.name} on ${late.server} is not current`
  }
  return undefined
}

export interface WaitOptions {
  /** Only these streams (default: every stream). */
  streams?: readonly string[]
  /** A server that must hold no replica any more. */
  away?: string
  timeoutMs: number
  signal?: AbortSignal
  intervalMs?: number
  progress?: (message: string) => void
}

/**
 * Wait until every replica of the streams (and their consumers) is current: each has a leader, as
 * many replicas as configured, none behind, none on `away`. Returns the placements; a NOT_FORMED
 * error naming what was still behind after the timeout.
 */
export async function waitCurrent(nc: NatsConnection, options: WaitOptions): Promise<StreamPlacement[]> {
  const deadline = Date.now() + options.timeoutMs
  let last = ''
  for (;;) {
    let problem: string | undefined
    let placements: StreamPlacement[] = []
    try {
      const infos = options.streams ? await Promise.all(options.streams.map((s) => streamInfo(nc, s))) : await streamInfos(nc)
      for (const info of infos)
        placements.push(placementOf(info, info.state.consumer_count > 0 ? await consumerPlacements(nc, info.config.name) : []))
      for (const p of placements) if ((problem = notCurrent(p, options.away))) break
    } catch (error) {
      // A leader election in progress answers nothing for a moment.
      problem = (error as Error).message
      placements = []
    }
    if (!problem) return placements
    if (problem !== last) options.progress?.((last = problem))
    if (Date.now() > deadline) {
      throw new MorpheusError(
        'NOT_FORMED',
        `the streams' replicas were not current within ${Math.round(options.timeoutMs / 1000)}s: ${problem}`,
        {
          hint: 'Look at the forest with `morpheus status`; run the command again once it is healthy (it goes on where it stopped).',
        },
      )
    }
    if (options.signal?.aborted) throw new MorpheusError('INTERRUPTED', `interrupted while waiting for the streams' replicas (${problem})`)
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250))
  }
}

/** Change a stream's replica count (its config as it stands, with num_replicas replaced). */
export async function setReplicas(nc: NatsConnection, stream: string, replicas: number): Promise<void> {
  const {config} = await streamInfo(nc, stream)
  if (config.num_replicas === replicas) return
  await api(nc, `${API_PREFIX}.STREAM.UPDATE.${stream}`, {...config, num_replicas: replicas})
}

/**
 * Remove a server's replica from a stream (stream peer-remove): the meta leader places a new replica
 * elsewhere when a server is free for it. False when the server held no replica (nothing to do).
 */
export async function peerRemove(nc: NatsConnection, stream: string, server: string): Promise<boolean> {
  try {
    await api(nc, `${API_PREFIX}.STREAM.PEER.REMOVE.${stream}`, {peer: server})
    return true
  } catch (error) {
    if (isJetStreamError(error, ERR.CLUSTER_NOT_MEMBER)) return false
    // No free server for a replacement: the peer is removed all the same (the stream runs one replica short).
    if (isJetStreamError(error, ERR.PEER_REMAP)) return true
    throw error
  }
}

export interface MoveOptions {
  timeoutMs: number
  signal?: AbortSignal
  progress?: (message: string) => void
  /** Lower the stream's replica count to this first (there are fewer servers left than replicas). */
  lowerTo?: number
}

/**
 * Move every replica of a stream off `server`, keeping every acked message: an R1 stream is raised
 * to R2 and waited for (the new replica current), then the server's replica is removed and the
 * stream set back to R1; a larger stream has the server's replica removed and re-placed, then is
 * waited for. Re-running it on a stream already off the server does nothing.
 */
export async function moveOff(nc: NatsConnection, stream: string, server: string, options: MoveOptions): Promise<'moved' | 'absent'> {
  const wait = (away?: string) =>
    waitCurrent(nc, {away, progress: options.progress, signal: options.signal, streams: [stream], timeoutMs: options.timeoutMs})
  let info = await streamInfo(nc, stream)
  // A half-done move of an R1 stream (raised to R2 by an earlier run): finish it first.
  const members = () => peersOf(info.cluster).map((r) => r.server)
  if (!members().includes(server)) return 'absent'
  if (options.lowerTo !== undefined && info.config.num_replicas > options.lowerTo) {
    options.progress?.(`${stream}: lowering to ${options.lowerTo} replica${options.lowerTo === 1 ? '' : 's'}`)
    await setReplicas(nc, stream, options.lowerTo)
    await wait()
    info = await streamInfo(nc, stream)
    if (!members().includes(server)) return 'moved'
  }
  const original = info.config.num_replicas
  if (original === 1) {
    options.progress?.(`${stream}: a second replica, so its one replica on ${server} can go`)
    await setReplicas(nc, stream, 2)
    await wait()
  }
  options.progress?.(`${stream}: removing its replica on ${server}`)
  await peerRemove(nc, stream, server)
  await wait(server).catch(async (error) => {
    // Nowhere to re-place it: the stream has one replica less than configured; set it to what it has.
    const now = await streamInfo(nc, stream)
    const have = peersOf(now.cluster).length
    if (have > 0 && have < now.config.num_replicas && !peersOf(now.cluster).some((r) => r.server === server)) {
      await setReplicas(nc, stream, have)
      await wait(server)
      return
    }
    throw error
  })
  if (original === 1) {
    await setReplicas(nc, stream, 1)
    await wait(server)
  }
  return 'moved'
}
