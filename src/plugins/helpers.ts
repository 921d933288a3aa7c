import {existsSync, readFileSync} from 'node:fs'
import {setTimeout as sleepTimer} from 'node:timers/promises'

import type {PluginErrorShape, PluginHelpers, PollOptions, RetryOptions} from '../plugin-api/index.js'
import {mapLimit} from '../map-limit.js'
import {hostPort, urlHost} from '../net.js'

/** Sleep that ends early (with an AbortError) when the signal fires. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  await sleepTimer(ms, undefined, {signal})
}

export function isTransient(error: unknown): boolean {
  return (error as {transient?: unknown})?.transient === true
}

/** Exponential back-off with full jitter: a random wait in [0, min(max, base * 2^(attempt-1))]. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  return Math.round(random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1)))
}

/** Run fn until it succeeds, retrying the errors `retryable` accepts (by default transient ones). */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const tries = options.tries ?? 5
  const base = options.baseMs ?? 1000
  const max = options.maxMs ?? 60_000
  const retryable = options.retryable ?? isTransient
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted()
    try {
      return await fn(attempt)
    } catch (error) {
      if (attempt >= tries || !retryable(error) || options.signal?.aborted) throw error
      const delayMs = options.waitFor?.(error) ?? backoffMs(attempt, base, max)
      options.onRetry?.({attempt, delayMs, error})
      await sleep(delayMs, options.signal)
    }
  }
}

function failed(message: string): PluginErrorShape {
  return Object.assign(new Error(message), {code: 'FAILED' as const})
}

/** Call check until it returns something other than undefined, or fail after the timeout. */
export async function pollUntil<T>(check: () => Promise<T | undefined>, options: PollOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  const interval = options.intervalMs ?? 1000
  for (;;) {
    options.signal?.throwIfAborted()
    const value = await check()
    if (value !== undefined) return value
    const left = deadline - Date.now()
    if (left <= 0) throw failed(`${options.what} did not happen within ${Math.round(options.timeoutMs / 100) / 10}s`)
    await sleep(Math.min(interval, left), options.signal)
  }
}

/** Is the process running? A zombie (exited, not yet reaped by its parent) is not. */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..." where S is the state; comm may hold spaces or parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    // No /proc (not Linux) or the process just went away: trust the signal check.
    return !existsSync('/proc/self/stat')
  }
}

/** Does process `pid` carry NAME=value in its environment (Linux /proc)? */
export function processHasEnv(pid: number, name: string, value: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`${name}=${value}`)
  } catch {
    return false
  }
}

export const helpers: PluginHelpers = {hostPort, mapLimit, pollUntil, processAlive, processHasEnv, retry, sleep, urlHost}
