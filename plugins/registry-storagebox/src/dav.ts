import {Agent as HttpAgent} from 'node:http'
import {Agent as HttpsAgent} from 'node:https'

import {createClient, type WebDAVClient} from 'webdav'

import type {PluginContext, PluginErrorShape} from 'morpheus/plugin-api'

export interface DavResponse {
  status: number
  headers: Headers
  body: string
}

export interface DavRequest {
  headers?: Record<string, string>
  body?: string
  signal?: AbortSignal
  /** Statuses the caller handles itself (others become errors that name the URL). */
  expect?: readonly number[]
}

export interface DavOptions {
  /** The document's URL, without credentials. */
  url: URL
  username: string
  password: string
  timeoutMs: number
}

/** What the server says when a request fails, for messages: never the credentials. */
export function describeStatus(status: number): string {
  const names: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    409: 'Conflict',
    412: 'Precondition Failed',
    423: 'Locked',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
    504: 'Gateway Timeout',
    507: 'Insufficient Storage',
  }
  return `${status}${names[status] ? ` ${names[status]}` : ''}`
}

/**
 * A thin layer over the `webdav` package: one method per request, every answer's status
 * checked, every failure turned into a plugin error that names the URL and says what to do.
 * Timeouts, resets, refused connections and 5xx answers are transient (the core retries them).
 */
export class Dav {
  readonly origin: string
  private readonly client: WebDAVClient

  constructor(
    private readonly options: DavOptions,
    private readonly context: PluginContext,
  ) {
    this.origin = options.url.origin
    const agentOptions = {keepAlive: true, maxSockets: 8}
    this.client = createClient(this.origin, {
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
      password: options.password,
      username: options.username,
    })
  }

  /** The full URL of a path on the server (for messages). */
  href(path: string): string {
    return `${this.origin}${encodeURI(path)}`
  }

  /**
   * One request. It is bounded by the registry's timeout and stopped by `request.signal` only, never
   * by the command's interrupt (context.signal): the core writes how an interrupted operation ended
   * through this same backend, so a Ctrl-C must not abort that write (nor the lock it takes).
   */
  async request(method: string, path: string, request: DavRequest = {}): Promise<DavResponse> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs)
    // Our own controller, linked to the timeout and the caller's signal only while this request
    // runs: once it has ended, a later abort must not reach its response (node-fetch emits the
    // abort as an 'error' event on an unread body, which would crash the process).
    const controller = new AbortController()
    const sources = [timeout, request.signal].filter((s): s is AbortSignal => s !== undefined)
    const stop = () => controller.abort()
    for (const s of sources) {
      if (s.aborted) controller.abort()
      else s.addEventListener('abort', stop, {once: true})
    }
    const url = this.href(path)
    try {
      let response: {status: number; headers: Headers; body?: unknown; text(): Promise<string>}
      try {
        response = (await this.client.customRequest(path, {
          data: request.body,
          headers: request.headers,
          method,
          signal: controller.signal,
        })) as unknown as typeof response
      } catch (error) {
        const status = (error as {status?: number}).status
        const res = (error as {response?: {headers: Headers; body?: unknown; text(): Promise<string>}}).response
        if (typeof status === 'number' && res) {
          quietBody(res)
          const body = await res.text().catch(() => '')
          if (request.expect?.includes(status)) return {body, headers: res.headers, status}
          throw this.statusError(method, url, status)
        }
        throw this.networkError(method, url, error, timeout, request.signal)
      }
      quietBody(response)
      let body: string
      try {
        body = await response.text()
      } catch (error) {
        throw this.networkError(method, url, error, timeout, request.signal)
      }
      return {body, headers: response.headers, status: response.status}
    } finally {
      for (const s of sources) s.removeEventListener('abort', stop)
    }
  }

  statusError(method: string, url: string, status: number): PluginErrorShape {
    const e = this.context.error
    const what = `${method} ${url} answered ${describeStatus(status)}`
    if (status === 401 || status === 403) {
      return e(
        'AUTH',
        `${what}: the server refused the credentials of user "${this.options.username}"`,
        status === 401
          ? 'Check registry.username and registry.password in the config (a ${ENV} reference must be exported); on a Storage Box, reset the password in the Hetzner console if unsure.'
          : "The user may not write there: check the folder's permissions, or that WebDAV is switched on for this Storage Box (sub-accounts see only their own folder).",
      )
    }
    if (status === 507) {
      return e(
        'FAILED',
        `${what}: the server is out of space; nothing was changed`,
        'Free space on the server (on a Storage Box: delete snapshots or files, or choose a larger box), then run the command again.',
      )
    }
    if (status === 423) return e('LOCKED', `${what}: another writer holds a lock on it`, 'Wait a moment and run the command again.')
    if (status >= 500)
      return e('UNREACHABLE', `${what}`, 'The server had a problem; try again in a moment. If it persists, check the server.', {
        transient: true,
      })
    if (status === 404 || status === 409)
      return e('NOT_FOUND', `${what}: the folder does not exist`, 'Run `morpheus registry init --yes` to create it, or fix registry.url.')
    if (status === 405)
      return e(
        'UNSUPPORTED',
        `${what}: the server does not allow ${method} there`,
        'Is registry.url a WebDAV URL (https://<user>.your-storagebox.de/...) and WebDAV switched on?',
      )
    return e('FAILED', what, 'Check registry.url and the server.')
  }

  private networkError(method: string, url: string, error: unknown, timeout: AbortSignal, own?: AbortSignal): PluginErrorShape {
    const e = this.context.error
    if (own?.aborted && !timeout.aborted) {
      const abort = new Error(`${method} ${url}: interrupted`)
      abort.name = 'AbortError'
      return Object.assign(abort, {code: 'FAILED' as const})
    }
    if (timeout.aborted) {
      return e(
        'UNREACHABLE',
        `${method} ${url}: no answer within ${Math.round(this.options.timeoutMs / 1000)} s`,
        'Check your network and the server; raise registry.timeout_seconds if the link is slow.',
        {transient: true},
      )
    }
    const code = errorCode(error)
    if (code === 'ECONNREFUSED')
      return e(
        'UNREACHABLE',
        `cannot reach ${url}: connection refused`,
        'Is the server up, and registry.url right? On a Storage Box, WebDAV and external reachability must be on (`morpheus registry init` switches them on).',
        {transient: true},
      )
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      return e('UNREACHABLE', `cannot reach ${url}: host not found`, 'Check the host name in registry.url and your DNS.', {
        transient: code === 'EAI_AGAIN',
      })
    if (
      code === 'ECONNRESET' ||
      code === 'EPIPE' ||
      code === 'UND_ERR_SOCKET' ||
      code === 'ERR_STREAM_PREMATURE_CLOSE' ||
      code === 'ETIMEDOUT' ||
      code === 'EHOSTUNREACH' ||
      code === 'ENETUNREACH'
    ) {
      return e(
        'UNREACHABLE',
        `${method} ${url}: the connection failed (${code})`,
        'A network problem; try again. If it persists, check the server.',
        {transient: true},
      )
    }
    return e(
      'UNREACHABLE',
      `${method} ${url} failed: ${redactMessage((error as Error)?.message ?? String(error))}`,
      'Check registry.url and your network.',
      {transient: true},
    )
  }
}

/**
 * An 'error' on a response body nobody reads (an abort after the answer came) must not become an
 * uncaught exception; a reader of the body still gets the error from its own read.
 */
function quietBody(response: {body?: unknown}): void {
  const body = response.body as {on?: (event: string, listener: () => void) => unknown} | null | undefined
  if (body && typeof body.on === 'function') body.on('error', () => undefined)
}

function errorCode(error: unknown): string | undefined {
  let e = error as {code?: unknown; cause?: unknown; errno?: unknown; type?: unknown} | undefined
  for (let depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string') return e.code
    e = e.cause as typeof e
  }
  return undefined
}

/** Messages from the HTTP stack may echo a URL; never let userinfo through. */
function redactMessage(message: string): string {
  return message.replace(/\/\/[^/@\s]*@/g, '//')
}

export const LOCK_BODY = (owner: string) =>
  `<?xml version="1.0" encoding="utf-8"?>\n<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>${owner.replace(/[<>&"']/g, '')}</D:owner></D:lockinfo>`
