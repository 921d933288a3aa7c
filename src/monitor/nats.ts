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

function describeFetchError(error: unknown): string {
  const e = error as {name?: string; cause?: {code?: string}; message?: string}
  if (e?.name === 'TimeoutError') return 'timed out'
  return e?.cause?.code ?? e?.message ?? String(error)
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
