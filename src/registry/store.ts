import {MorpheusError, errorCode} from '../errors.js'
import type {Logger, RegistryBackend, RegistryDocument, RegistryProbe} from '../plugin-api/index.js'
import {guardBackend, pluginMessage} from '../plugins/guard.js'
import {backoffMs, isTransient, sleep} from '../plugins/helpers.js'
import {emptyDocument, parseDocument, serializeDocument} from './document.js'
import {plural} from '../words.js'

/** Returned by a mutation that changed nothing: no write is made for it. */
export const UNCHANGED = Symbol('unchanged')

export type Mutation<T> = (doc: RegistryDocument) => T | typeof UNCHANGED | Promise<T | typeof UNCHANGED>

export interface StoreOptions {
  log?: Pick<Logger, 'debug' | 'warn'>
  /**
   * Writes are at least this far apart (ms): updates that arrive in between, or while a write is in
   * flight, go into the next write together. `flush()` and `update(..., {now: true})` skip the wait.
   */
  minIntervalMs?: number
  /** Conflicting writes (another writer won) before giving up. */
  conflictAttempts?: number
  /** Back-off after a conflict: base and cap (ms), full jitter. */
  conflictBaseMs?: number
  conflictMaxMs?: number
  /** Tries of one read or write that fails with a transient error (5xx, timeout, reset). */
  transientTries?: number
  transientBaseMs?: number
  transientMaxMs?: number
  /**
   * How the backend makes writes safe, when already known (e.g. cached from `registry init`).
   * Otherwise the store probes before its first write.
   */
  probe?: RegistryProbe | (() => Promise<RegistryProbe>)
  /** Write even when the probe says the backend cannot make writes safe (`--unsafe`). */
  unsafe?: boolean
  onConflict?: (attempt: number, delayMs: number) => void
}

export interface StoreStats {
  reads: number
  writes: number
  /** Writes that lost to another writer (a conflict with ourselves would be a bug). */
  conflicts: number
  /** Reads and writes tried again after a transient error. */
  retries: number
}

interface Pending {
  mutate: Mutation<unknown>
  resolve: (value: {doc: RegistryDocument; result: unknown}) => void
  reject: (error: unknown) => void
}

/**
 * The registry as one command sees it: the only read-modify-write loop in Morpheus.
 *
 * Every update of a command goes through one store. Updates are batched: those that arrive while
 * a write is in flight, or within `minIntervalMs` of the last write, are applied together to the
 * document and written at once. The store remembers the revision it wrote last, so its own writes
 * never conflict with each other; when another writer got in between, it reads the fresh document
 * and applies the whole batch again (mutations must therefore be idempotent functions of the
 * document they are given). Transient backend errors are retried with jittered back-off, a bounded
 * number of times. Before its first write the store makes sure the backend can make writes safe
 * (its probe), and refuses otherwise unless told `unsafe`.
 */
export class RegistryStore {
  readonly stats: StoreStats = {conflicts: 0, reads: 0, retries: 0, writes: 0}
  private base?: {doc: RegistryDocument; revision: string | null}
  private queue: Pending[] = []
  private running?: Promise<void>
  private lastWriteAt = 0
  private hurry = false
  private wake?: () => void
  private safety?: Promise<void>
  private signal?: AbortSignal

  private intervalMs: number
  /** The backend, its calls guarded (src/plugins/guard.ts): what it throws is a REGISTRY error naming it. */
  readonly backend: RegistryBackend

  constructor(
    backend: RegistryBackend,
    private readonly options: StoreOptions = {},
  ) {
    this.backend = guardBackend(backend)
    this.intervalMs = options.minIntervalMs ?? 0
  }

  /**
   * Space writes at least `ms` apart from now on (Infinity: only when flushed or asked `now`),
   * for updates whose timing matters less than their count.
   */
  pace(ms: number): void {
    this.intervalMs = ms
    this.wake?.()
  }

  /**
   * Bound this store's backend calls from now on by `signal` (undefined: only by the backend's own
   * timeouts). Never the command's interrupt: settling an interrupted operation writes through
   * this store on a clock of its own (see settle()).
   */
  within(signal: AbortSignal | undefined): void {
    this.signal = signal
  }

  get location(): string {
    return this.backend.location
  }

  /** The document as last read or written by this store (undefined before the first read). */
  get current(): RegistryDocument | undefined {
    return this.base ? structuredClone(this.base.doc) : undefined
  }

  /** The revision last read or written (null: no document exists; undefined: not read yet). */
  get revision(): string | null | undefined {
    return this.base?.revision
  }

  /** Read the document afresh (an empty one when none exists yet). */
  async read(): Promise<RegistryDocument> {
    const {doc} = await this.readFresh()
    return structuredClone(doc)
  }

  /**
   * Apply `mutate` in the next write. Resolves once that write has committed (or, when every
   * mutation of the batch returned UNCHANGED, at once with the document as it is).
   */
  update<T>(mutate: Mutation<T>, options: {now?: boolean} = {}): Promise<{doc: RegistryDocument; result: T | undefined}> {
    const promise = new Promise<{doc: RegistryDocument; result: unknown}>((resolve, reject) => {
      this.queue.push({mutate: mutate as Mutation<unknown>, reject, resolve})
    })
    if (options.now) this.hurryUp()
    this.kick()
    return promise as Promise<{doc: RegistryDocument; result: T | undefined}>
  }

  /** Write what is queued now, without waiting for the interval; resolves when all of it is written. */
  async flush(): Promise<void> {
    this.hurryUp()
    while (this.running) await this.running
  }

  private hurryUp(): void {
    this.hurry = true
    this.wake?.()
  }

  private kick(): void {
    if (this.running) return
    this.running = this.drain().finally(() => {
      this.running = undefined
      if (this.queue.length > 0) this.kick()
    })
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const wait = this.lastWriteAt + this.intervalMs - Date.now()
      if (wait > 0 && !this.hurry) {
        await new Promise<void>((resolve) => {
          // Without a finite interval only a flush (or an update asked `now`) ends the wait.
          const timer = Number.isFinite(wait) ? setTimeout(resolve, wait) : undefined
          this.wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        this.wake = undefined
        // pace() may have shortened the interval: look again.
        if (!this.hurry && this.lastWriteAt + this.intervalMs > Date.now()) continue
      }
      if (this.queue.length === 0) break
      // Everything queued until now goes into this write; later arrivals into the next.
      const batch = this.queue
      this.queue = []
      this.hurry = false
      await this.commit(batch)
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    const attempts = this.options.conflictAttempts ?? 10
    for (let attempt = 1; ; attempt++) {
      let base
      try {
        base = this.base ?? (await this.readFresh())
      } catch (error) {
        for (const p of batch) p.reject(error)
        return
      }
      const doc = structuredClone(base.doc)
      const results = new Map<Pending, unknown>()
      const failed = new Map<Pending, unknown>()
      let changed = false
      for (const p of batch) {
        const before = structuredClone(doc)
        try {
          const result = await p.mutate(doc)
          if (result !== UNCHANGED) changed = true
          results.set(p, result === UNCHANGED ? undefined : result)
        } catch (error) {
          // This mutation alone fails; the document goes back to how it was before it.
          failed.set(p, error)
          for (const key of Object.keys(doc) as Array<keyof RegistryDocument>) delete doc[key]
          Object.assign(doc, before)
        }
      }
      const settle = (final: RegistryDocument) => {
        for (const p of batch) {
          if (failed.has(p)) p.reject(failed.get(p))
          else p.resolve({doc: structuredClone(final), result: results.get(p)})
        }
      }
      if (!changed) return settle(base.doc)
      try {
        await this.ensureSafe()
        doc.updated_at = new Date().toISOString()
        const body = serializeDocument(doc)
        const {revision} = await this.transient('write', () =>
          this.backend.write(body, base.revision === null ? {ifAbsent: true} : {ifRevision: base.revision}, {signal: this.signal}),
        )
        this.stats.writes++
        this.lastWriteAt = Date.now()
        this.base = {doc, revision}
        return settle(doc)
      } catch (error) {
        if (errorCode(error) !== 'CONFLICT') {
          for (const p of batch) p.reject(error)
          return
        }
        this.stats.conflicts++
        this.base = undefined
        if (attempt >= attempts) {
          const e = new MorpheusError(
            'REGISTRY',
            `the registry at ${this.backend.location} kept changing under us: gave up after ${attempts} conflicting writes`,
            {
              hint: 'Another morpheus is writing the registry right now; try again in a moment.',
            },
          )
          for (const p of batch) p.reject(e)
          return
        }
        const delay = backoffMs(attempt, this.options.conflictBaseMs ?? 25, this.options.conflictMaxMs ?? 2000)
        this.options.onConflict?.(attempt, delay)
        this.options.log?.debug(
          `registry: another writer changed ${this.backend.location}; applying ${plural(batch.length, 'update')} again in ${delay} ms`,
        )
        await sleep(delay)
      }
    }
  }

  private async readFresh(): Promise<{doc: RegistryDocument; revision: string | null}> {
    const stored = await this.transient('read', () => this.backend.read({signal: this.signal}))
    this.stats.reads++
    this.base = stored
      ? {doc: parseDocument(stored.body, this.backend.location), revision: stored.revision}
      : {doc: emptyDocument(), revision: null}
    return this.base
  }

  /** One backend call, tried again after transient errors (5xx, timeouts, resets). */
  private async transient<T>(what: string, call: () => Promise<T>): Promise<T> {
    const tries = this.options.transientTries ?? 5
    for (let attempt = 1; ; attempt++) {
      try {
        return await call()
      } catch (error) {
        if (attempt >= tries || !isTransient(error)) throw error
        this.stats.retries++
        const delay = backoffMs(attempt, this.options.transientBaseMs ?? 200, this.options.transientMaxMs ?? 5000)
        this.options.log?.warn(`registry ${this.backend.location}: ${what} failed (${pluginMessage(error)}); trying again in ${delay} ms`)
        await sleep(delay)
      }
    }
  }

  /** Before the first write: the backend must make writes safe, or the user must have said --unsafe. */
  private ensureSafe(): Promise<void> {
    this.safety ??= (async () => {
      const given = this.options.probe
      let probe: RegistryProbe
      try {
        probe = typeof given === 'function' ? await given() : (given ?? (await this.backend.probe({signal: this.signal})))
      } catch (error) {
        this.safety = undefined
        throw error
      }
      if (probe.concurrency !== 'none') return
      const why = probe.notes.length > 0 ? `: ${probe.notes.join('; ')}` : ''
      if (this.options.unsafe) {
        this.options.log?.warn(
          `the registry at ${this.backend.location} cannot make writes safe${why}; writing anyway (--unsafe): a concurrent writer can lose an update`,
        )
        return
      }
      throw new MorpheusError(
        'REGISTRY',
        `refusing to write the registry at ${this.backend.location}: it cannot make concurrent writes safe (no compare-and-swap, no verifiable lock)${why}`,
        {
          hint: 'Use a server that enforces conditional writes, or accept the risk with --unsafe (or registry.unsafe_writes: true) when no other device writes this registry.',
        },
      )
    })()
    return this.safety
  }
}
