import createClient, {type Client} from 'openapi-fetch'
import type {PluginContext} from 'morpheus/plugin-api'

import {apiError, isHetznerError, type HetznerError} from './errors.js'
import type {paths} from './hcloud.js'

export type HcloudPaths = paths
export const DEFAULT_ENDPOINT = 'https://api.hetzner.cloud/v1'

/** What an openapi-fetch call resolves to (either data or error). */
export interface CallResult<T> {
  data?: T
  error?: unknown
  response: Response
}

export interface HcloudOptions {
  token: string
  endpoint: string
  /** One request's time limit (ms); a request over it counts as a timeout (retried). */
  requestTimeoutMs?: number
  /** The longest wait for a rate limit to reset before giving up (ms). */
  maxRateLimitWaitMs?: number
}

export interface CallOptions {
  /**
   * For idempotent clean-up (deletes): also retry 5xx answers and unreachable networks, with more tries,
   * since a delete tried twice harms nothing and a delete given up leaves a paid resource behind.
   */
  persistent?: boolean
}

/** The endpoint without user:password@ (it is shown in messages). */
export function safeEndpoint(endpoint: string): string {
  try {
    const url = new URL(endpoint)
    url.username = ''
    url.password = ''
    return url.toString().replace(/\/$/, '')
  } catch {
    return '(invalid URL)'
  }
}

/**
 * The Hetzner Cloud API, typed from the official OpenAPI spec (openapi-typescript) and called through
 * openapi-fetch. `call` adds what every request needs: Hetzner's retry rules, the rate limit, time limits,
 * errors with a code and a hint, and a request count (for the benchmark).
 */
export class Hcloud {
  readonly api: Client<paths>
  /** Requests sent so far (every try counts). */
  requests = 0
  private readonly timeoutMs: number
  private readonly maxRateWaitMs: number

  constructor(
    private readonly context: Pick<PluginContext, 'error' | 'helpers' | 'log'>,
    readonly options: HcloudOptions,
  ) {
    this.api = createClient<paths>({
      baseUrl: options.endpoint.replace(/\/+$/, ''),
      headers: {Authorization: `Bearer ${options.token}`, 'User-Agent': 'morpheus-provider-hetzner'},
    })
    this.timeoutMs = options.requestTimeoutMs ?? 30_000
    this.maxRateWaitMs = options.maxRateLimitWaitMs ?? 15 * 60_000
  }

  /** One API call, retried as Hetzner's rules say. `what` names it in messages ("POST /servers"). */
  async call<T>(
    what: string,
    fn: (api: Client<paths>, signal: AbortSignal) => Promise<CallResult<T>>,
    signal: AbortSignal,
    options: CallOptions = {},
  ): Promise<T> {
    const persistent = options.persistent === true
    return this.context.helpers.retry(
      async () => {
        this.requests++
        const timeout = AbortSignal.timeout(this.timeoutMs)
        let result: CallResult<T>
        try {
          result = await fn(this.api, AbortSignal.any([signal, timeout]))
        } catch (error) {
          if (signal.aborted) throw error
          if (timeout.aborted)
            throw apiError(this.context, what, {code: 'timeout', message: `no answer within ${Math.round(this.timeoutMs / 1000)}s`})
          const cause = (error as {cause?: {code?: string; message?: string; errors?: Array<{code?: string}>}})?.cause
          const reason = cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (error as Error)?.message ?? String(error)
          const e = this.context.error(
            'UNREACHABLE',
            `${what}: the Hetzner API at ${safeEndpoint(this.options.endpoint)} could not be reached (${reason})`,
            'Check the network, or the endpoint (HCLOUD_ENDPOINT or providers.hetzner.endpoint) if you set one.',
            {cause: error},
          )
          throw Object.assign(e, {hcloudCode: 'unreachable', retryable: false})
        }
        const {response} = result
        if (result.error === undefined && response.ok) return result.data as T
        throw this.toError(what, response, result.error)
      },
      {
        onRetry: ({attempt, delayMs, error}) => this.tellRetry(what, attempt, delayMs, error, persistent ? 8 : 5),
        retryable: (error) => {
          if (!isHetznerError(error)) return false
          if (error.resetAt !== undefined && error.resetAt - Date.now() > this.maxRateWaitMs) return false
          if (error.retryable) return true
          return persistent && (error.hcloudCode === 'unreachable' || (error.status ?? 0) >= 500)
        },
        signal,
        tries: persistent ? 8 : 5,
        waitFor: (error) =>
          isHetznerError(error) && error.resetAt !== undefined
            ? Math.max(0, error.resetAt - Date.now()) + Math.round(Math.random() * 500)
            : undefined,
      },
    )
  }

  /** Every item of a paginated list (per_page 50, the API's maximum). */
  async all<T, D>(
    what: string,
    fetchPage: (api: Client<paths>, page: number, signal: AbortSignal) => Promise<CallResult<D>>,
    pick: (data: D) => T[],
    signal: AbortSignal,
  ): Promise<T[]> {
    const out: T[] = []
    for (let page: number | null = 1; page !== null;) {
      const current: number = page
      const data: D = await this.call(`${what} (page ${current})`, (api, s) => fetchPage(api, current, s), signal)
      out.push(...pick(data))
      const next = (data as {meta?: {pagination?: {next_page?: number | null}}}).meta?.pagination?.next_page
      page = typeof next === 'number' && next > current ? next : null
    }
    return out
  }

  private toError(what: string, response: Response, body: unknown): HetznerError {
    const err = (body as {error?: {code?: unknown; message?: unknown; details?: unknown}})?.error
    const code = typeof err?.code === 'string' ? err.code : response.status === 429 ? 'rate_limit_exceeded' : `http_${response.status}`
    const message = typeof err?.message === 'string' ? err.message : response.statusText
    let resetAt: number | undefined
    if (code === 'rate_limit_exceeded' || response.status === 429) {
      const reset = Number(response.headers.get('RateLimit-Reset'))
      resetAt = Number.isFinite(reset) && reset > 0 ? reset * 1000 : Date.now() + 1000
    }
    return apiError(this.context, `Hetzner API ${what}`, {code, details: err?.details, message, resetAt, status: response.status})
  }

  private tellRetry(what: string, attempt: number, delayMs: number, error: unknown, tries: number): void {
    const seconds = (delayMs / 1000).toFixed(1)
    if (isHetznerError(error) && error.hcloudCode === 'rate_limit_exceeded') {
      this.context.log.warn(
        `Hetzner API rate limit reached on ${what} (3600 requests an hour per project): waiting ${seconds}s until it resets (RateLimit-Reset)`,
      )
      return
    }
    const code = isHetznerError(error) ? error.hcloudCode : 'error'
    this.context.log.warn(
      `Hetzner API ${what}: ${code}${isHetznerError(error) && error.status ? ` (HTTP ${error.status})` : ''}; trying again in ${seconds}s (try ${attempt + 1} of ${tries})`,
    )
  }
}
