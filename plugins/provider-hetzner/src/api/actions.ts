import {getMaxListeners, setMaxListeners} from 'node:events'

import type {PluginContext} from 'morpheus/plugin-api'

import type {Hcloud} from './client.js'
import type {Action} from './types.js'

interface Waiting {
  what: string
  timeoutMs: number
  deadline: number
  resolve(action: Action): void
  reject(error: unknown): void
}

/** Ids per GET /actions request. */
const BATCH = 50

/**
 * Waits on Hetzner actions for every caller at once: one `GET /actions?id=..&id=..` per poll round
 * covers all pending actions (of all servers being created), never one request per action.
 */
export class ActionWaiter {
  private readonly pending = new Map<number, Waiting[]>()
  private running = false
  /** Poll rounds made (for tests and the benchmark). */
  rounds = 0

  constructor(
    private readonly hc: Hcloud,
    private readonly context: Pick<PluginContext, 'error' | 'helpers'>,
    private readonly intervalMs: number,
  ) {}

  /** Resolves when the action succeeds; rejects when it fails, times out, or `signal` fires. */
  wait(action: Pick<Action, 'id' | 'status' | 'error' | 'command'>, what: string, timeoutMs: number, signal: AbortSignal): Promise<Action> {
    if (action.status === 'success') return Promise.resolve(action as Action)
    if (action.status === 'error') return Promise.reject(this.failed(action as Action, what))
    return new Promise<Action>((resolve, reject) => {
      const entry: Waiting = {deadline: Date.now() + timeoutMs, reject, resolve, timeoutMs, what}
      const onAbort = () => {
        this.remove(action.id, entry)
        reject(signal.reason ?? new DOMException('aborted', 'AbortError'))
      }
      if (signal.aborted) return onAbort()
      // Every node being created waits on the command's one signal: many listeners are expected, not a leak.
      if (getMaxListeners(signal) < 200) setMaxListeners(200, signal)
      signal.addEventListener('abort', onAbort, {once: true})
      entry.resolve = (a) => {
        signal.removeEventListener('abort', onAbort)
        resolve(a)
      }
      entry.reject = (e) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      }
      const list = this.pending.get(action.id) ?? []
      list.push(entry)
      this.pending.set(action.id, list)
      if (!this.running) void this.loop()
    })
  }

  private remove(id: number, entry: Waiting): void {
    const list = (this.pending.get(id) ?? []).filter((e) => e !== entry)
    if (list.length > 0) this.pending.set(id, list)
    else this.pending.delete(id)
  }

  private failed(action: Action, what: string) {
    const code = action.error?.code ?? 'action_failed'
    const e = this.context.error(
      'FAILED',
      `${what}: Hetzner action ${action.command} failed: ${code}${action.error?.message ? `: ${action.error.message}` : ''}`,
      'See the server in the Hetzner Console; `morpheus teardown` removes what was made.',
    )
    return Object.assign(e, {hcloudCode: code, retryable: false})
  }

  private async loop(): Promise<void> {
    this.running = true
    try {
      while (this.pending.size > 0) {
        await this.context.helpers.sleep(this.intervalMs)
        const now = Date.now()
        for (const [id, list] of [...this.pending]) {
          for (const entry of list.filter((e) => e.deadline <= now)) {
            this.remove(id, entry)
            entry.reject(
              Object.assign(
                this.context.error(
                  'FAILED',
                  `${entry.what}: not finished within ${Math.round(entry.timeoutMs / 1000)}s`,
                  'The server may be stuck; Morpheus removes what this run made. Try again, or another location (providers.hetzner.location).',
                ),
                {hcloudCode: 'action_timeout', retryable: false},
              ),
            )
          }
        }
        const ids = [...this.pending.keys()]
        if (ids.length === 0) break
        this.rounds++
        for (let i = 0; i < ids.length; i += BATCH) {
          const chunk = ids.slice(i, i + BATCH)
          let actions: Action[]
          try {
            // The waiter outlives any one caller: callers leave on their own signal, the poll itself is not cancelled by one of them.
            const data = await this.hc.call(
              'GET /actions',
              (api, signal) => api.GET('/actions', {params: {query: {id: chunk}}, signal}),
              new AbortController().signal,
            )
            actions = data.actions
          } catch (error) {
            for (const id of chunk) {
              for (const entry of this.pending.get(id) ?? []) entry.reject(error)
              this.pending.delete(id)
            }
            continue
          }
          for (const action of actions) {
            if (action.status === 'running') continue
            const list = this.pending.get(action.id) ?? []
            this.pending.delete(action.id)
            for (const entry of list) {
              if (action.status === 'success') entry.resolve(action)
              else entry.reject(this.failed(action, entry.what))
            }
          }
        }
      }
    } finally {
      this.running = false
    }
  }
}
