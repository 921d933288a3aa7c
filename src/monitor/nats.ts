/** Reads NATS monitoring endpoints (/healthz, /varz, /routez) over plain HTTP. */

export interface Varz {
  server_name?: string
  version?: string
  cpu?: number
  mem?: number
  cores?: number
  connections?: number
  routes?: number
  in_msgs?: number
  out_msgs?: number
  uptime?: string
  jetstream?: {meta?: {leader?: string; cluster_size?: number; name?: string}}
}

export interface NodeHealth {
  reachable: boolean
  healthy: boolean
  routes: number
  server_name?: string
  version?: string
  jetstream_leader?: string
  jetstream_cluster_size?: number
  error?: string
}

async function getJson<T>(url: string, timeoutMs: number): Promise<{status: number; body: T}> {
  const response = await fetch(url, {signal: AbortSignal.timeout(timeoutMs)})
  const text = await response.text()
  let body: T
  try {
    body = JSON.parse(text) as T
  } catch {
    body = {} as T
  }
  return {body, status: response.status}
}

/** Why a node did not answer, in words (fetch reports socket errors by code: ECONNREFUSED...). */
const FETCH_ERRORS: Record<string, string> = {
  EADDRNOTAVAIL: 'the address is not available on this machine',
  EAI_AGAIN: 'its host name could not be looked up',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'the connection was reset',
  EHOSTDOWN: 'the host is down',
  EHOSTUNREACH: 'no route to the host',
  ENETUNREACH: 'the network is unreachable',
  ENOTFOUND: 'its host name is not known',
  ETIMEDOUT: 'timed out',
  UND_ERR_CONNECT_TIMEOUT: 'timed out connecting',
  UND_ERR_HEADERS_TIMEOUT: 'timed out waiting for an answer',
  UND_ERR_SOCKET: 'the connection was closed',
}

export function describeFetchError(error: unknown): string {
  const e = error as {name?: string; cause?: {code?: string; message?: string}; message?: string}
  if (e?.name === 'TimeoutError') return 'timed out'
  if (e?.name === 'AbortError') return 'stopped'
  const code = e?.cause?.code
  if (code && Object.hasOwn(FETCH_ERRORS, code)) return FETCH_ERRORS[code]
  return code ? `${e?.cause?.message ?? code}` : (e?.message ?? String(error))
}

/** One look at a node: /healthz for health, /varz for routes, version and the JetStream meta leader. */
export async function probeNode(monitorUrl: string, timeoutMs = 1500): Promise<NodeHealth> {
  try {
    const [health, varz] = await Promise.all([
      getJson<{status?: string; error?: string}>(`${monitorUrl}/healthz`, timeoutMs),
      getJson<Varz>(`${monitorUrl}/varz`, timeoutMs),
    ])
    const meta = varz.body.jetstream?.meta
    return {
      healthy: health.status === 200 && health.body.status === 'ok',
      jetstream_cluster_size: meta?.cluster_size,
      jetstream_leader: meta?.leader || undefined,
      reachable: true,
      routes: varz.body.routes ?? 0,
      server_name: varz.body.server_name,
      version: varz.body.version,
      ...(health.status === 200 ? {} : {error: health.body.error ?? `healthz answered ${health.status}`}),
    }
  } catch (error) {
    return {error: describeFetchError(error), healthy: false, reachable: false, routes: 0}
  }
}

export async function probeAll(urls: readonly string[], timeoutMs?: number): Promise<NodeHealth[]> {
  return Promise.all(urls.map((u) => probeNode(u, timeoutMs)))
}

/** A forest has formed when every node is healthy, routes to all others and sees the same JetStream leader. */
export function isFormed(health: readonly NodeHealth[]): boolean {
  if (health.length === 0) return false
  const n = health.length
  // One node runs JetStream standalone: healthy (/healthz checks JetStream too) is formed.
  if (n === 1) return health[0].healthy
  const leader = health[0].jetstream_leader
  return health.every((h) => h.healthy && h.routes >= n - 1 && h.jetstream_leader !== undefined && h.jetstream_leader === leader)
}

// ---------------------------------------------------------------------------
// Full samples for grow: /varz, /routez, /healthz and /jsz of a node at once.
// ---------------------------------------------------------------------------

/** The part of /varz grow reads (see ../shared reference: nats-facts). */
export interface VarzFull extends Varz {
  in_bytes?: number
  out_bytes?: number
  slow_consumers?: number
  cluster?: {name?: string}
}

export interface Routez {
  num_routes?: number
  routes?: Array<{remote_id?: string; ip?: string; port?: number; did_solicit?: boolean}>
}

/** /jsz: JetStream usage of one server. Absent fields mean JetStream is off. */
export interface Jsz {
  config?: {max_memory?: number; max_storage?: number; store_dir?: string}
  memory?: number
  storage?: number
  streams?: number
  consumers?: number
  messages?: number
  bytes?: number
  meta_cluster?: {name?: string; leader?: string; cluster_size?: number}
}

/** One look at one node: everything its monitoring port told us, or why it told us nothing. */
export interface NodeSample {
  url: string
  /** /varz answered: the server runs and we can read its load. */
  reachable: boolean
  /** /healthz answered 200 {"status":"ok"}. */
  healthy: boolean
  /** Why the node is unreachable, in words (timed out, connection refused, ...). */
  error?: string
  /** What /healthz said when it was not ok. */
  health_error?: string
  varz?: VarzFull
  routez?: Routez
  jsz?: Jsz
  /** How long the node took to answer (all four requests), in ms. */
  ms: number
}

export interface SampleOptions {
  /** Each node gets this long for all four requests together. Default 2000 ms. */
  timeoutMs?: number
  /** Ends every request at once (Ctrl-C). */
  signal?: AbortSignal
}

/** The monitoring base URL of an address: `http://10.0.0.1:8222`, `http://[2a01:4f8::1]:8222`. */
export function monitorUrl(address: string, port: number): string {
  const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address
  return `http://${host}:${port}`
}

async function getJsonSignal<T>(url: string, signal: AbortSignal): Promise<{status: number; body: T}> {
  const response = await fetch(url, {signal})
  const text = await response.text()
  try {
    return {body: JSON.parse(text) as T, status: response.status}
  } catch {
    return {body: {} as T, status: response.status}
  }
}

/**
 * /varz, /routez, /healthz and /jsz of one node, in parallel, all within one per-node timeout.
 * Never throws: a node that does not answer /varz is `reachable: false` with the reason; a node
 * that answers /varz but not the others is reachable with what it did answer.
 */
export async function sampleNode(url: string, options: SampleOptions = {}): Promise<NodeSample> {
  const started = Date.now()
  const base = url.replace(/\/+$/, '')
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 2000)
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout
  const [varz, routez, health, jsz] = await Promise.allSettled([
    getJsonSignal<VarzFull>(`${base}/varz`, signal),
    getJsonSignal<Routez>(`${base}/routez`, signal),
    getJsonSignal<{status?: string; error?: string}>(`${base}/healthz`, signal),
    getJsonSignal<Jsz>(`${base}/jsz`, signal),
  ])
  const ms = Date.now() - started
  if (varz.status === 'rejected' || varz.value.status !== 200) {
    const error = varz.status === 'rejected' ? describeFetchError(varz.reason) : `/varz answered ${varz.value.status}`
    return {error, healthy: false, ms, reachable: false, url: base}
  }
  const ok = <T>(r: PromiseSettledResult<{status: number; body: T}>): T | undefined =>
    r.status === 'fulfilled' && r.value.status === 200 ? r.value.body : undefined
  const healthy = health.status === 'fulfilled' && health.value.status === 200 && health.value.body.status === 'ok'
  const healthError = healthy
    ? undefined
    : health.status === 'rejected'
      ? describeFetchError(health.reason)
      : (health.value.body.error ?? `healthz answered ${health.value.status}`)
  const jszBody = ok(jsz)
  return {
    healthy,
    ms,
    reachable: true,
    url: base,
    varz: varz.value.body,
    ...(healthError ? {health_error: healthError} : {}),
    ...(ok(routez) ? {routez: ok(routez)} : {}),
    // Without JetStream, /jsz answers without a config: treat it as no JetStream.
    ...(jszBody && jszBody.config ? {jsz: jszBody} : {}),
  }
}

/** Every node at once; the result keeps the order of `urls`. The whole call takes about one timeout at most. */
export async function sampleAll(urls: readonly string[], options: SampleOptions = {}): Promise<NodeSample[]> {
  return Promise.all(urls.map((u) => sampleNode(u, options)))
}
