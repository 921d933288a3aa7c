import type {
  IoOptions,
  RegistryBackend,
  RegistryProbe,
  RevisionInfo,
  SecretStore,
  StoredDocument,
  WriteCondition,
} from '../plugin-api/index.js'

type Fault = {code: string; message: string; transient?: boolean}

/** Counts of what reached the backend: every call is one round trip to a remote store. */
export interface BackendCounts {
  reads: number
  writes: number
  /** Writes refused because the condition did not hold. */
  conflicts: number
  probes: number
}

function fail(f: Fault): Error {
  return Object.assign(new Error(f.message), {code: f.code, ...(f.transient ? {transient: true} : {})})
}

/**
 * A registry backend in memory, with a real compare-and-swap (revision counter), history, a
 * secret store, optional latency per call and injectable faults. For unit tests of the engine
 * and the store, and as the reference the registry conformance kit is checked against.
 */
export class MemoryRegistry implements RegistryBackend {
  readonly location: string
  readonly counts: BackendCounts = {conflicts: 0, probes: 0, reads: 0, writes: 0}
  private body: string | null = null
  private revision = 0
  private readonly past: Array<{revision: string; body: string; modified: string}> = []
  private readonly faults: Array<{on: 'read' | 'write'; fault: Fault}> = []
  private readonly secretValues = new Map<string, Map<string, string>>()
  latencyMs = 0
  concurrency: RegistryProbe['concurrency'] = 'compare-and-swap'

  constructor(location = 'memory://registry') {
    this.location = location
  }

  /** The next `count` calls of this kind fail with this error. */
  failNext(on: 'read' | 'write', fault: Fault, count = 1): void {
    for (let i = 0; i < count; i++) this.faults.push({fault, on})
  }

  /** Replace the stored body behind the backend's back (another writer, or corruption). */
  overwrite(body: string): void {
    this.body = body
    this.revision++
  }

  get stored(): string | null {
    return this.body
  }

  private async delay(signal?: AbortSignal): Promise<void> {
    if (this.latencyMs > 0)
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, this.latencyMs)
        signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(t)
            reject(signal.reason)
          },
          {once: true},
        )
      })
  }

  private fault(on: 'read' | 'write'): void {
    const i = this.faults.findIndex((f) => f.on === on)
    if (i >= 0) throw fail(this.faults.splice(i, 1)[0].fault)
  }

  async probe(): Promise<RegistryProbe> {
    this.counts.probes++
    return {concurrency: this.concurrency, notes: [`memory: ${this.concurrency}`]}
  }

  async read(options: IoOptions = {}): Promise<StoredDocument | null> {
    await this.delay(options.signal)
    this.counts.reads++
    this.fault('read')
    return this.body === null ? null : {body: this.body, revision: String(this.revision)}
  }

  async write(body: string, condition: WriteCondition, options: IoOptions = {}): Promise<{revision: string}> {
    await this.delay(options.signal)
    this.counts.writes++
    this.fault('write')
    const holds = 'ifAbsent' in condition ? this.body === null : this.body !== null && condition.ifRevision === String(this.revision)
    if (!holds && this.concurrency !== 'none') {
      this.counts.conflicts++
      throw fail({code: 'CONFLICT', message: `${this.location} changed since it was read`})
    }
    if (this.body !== null) this.past.unshift({body: this.body, modified: new Date().toISOString(), revision: String(this.revision)})
    this.past.splice(20)
    this.body = body
    this.revision++
    return {revision: String(this.revision)}
  }

  async history(limit: number): Promise<RevisionInfo[]> {
    return this.past.slice(0, limit).map((p) => ({modified: p.modified, revision: p.revision, size: p.body.length}))
  }

  async readRevision(revision: string): Promise<StoredDocument | null> {
    if (revision === String(this.revision) && this.body !== null) return {body: this.body, revision}
    const found = this.past.find((p) => p.revision === revision)
    return found ? {body: found.body, revision: found.revision} : null
  }

  readonly secrets: SecretStore = {
    delete: async (forestId) => void this.secretValues.delete(forestId),
    get: async (forestId, name) => this.secretValues.get(forestId)?.get(name),
    set: async (forestId, name, value) => {
      const m = this.secretValues.get(forestId) ?? new Map<string, string>()
      m.set(name, value)
      this.secretValues.set(forestId, m)
    },
  }
}

/**
 * Wrap any backend: count its round trips and add latency to each (bench/ uses it to measure
 * what a command costs on a remote store).
 */
export function instrument(backend: RegistryBackend, latencyMs = 0): RegistryBackend & {counts: BackendCounts} {
  const counts: BackendCounts = {conflicts: 0, probes: 0, reads: 0, writes: 0}
  const wait = () => (latencyMs > 0 ? new Promise((r) => setTimeout(r, latencyMs)) : Promise.resolve())
  return {
    counts,
    history: backend.history?.bind(backend),
    location: backend.location,
    async probe(options) {
      counts.probes++
      await wait()
      return backend.probe(options)
    },
    async read(options) {
      counts.reads++
      await wait()
      return backend.read(options)
    },
    readRevision: backend.readRevision?.bind(backend),
    secrets: backend.secrets,
    async write(body, condition, options) {
      counts.writes++
      await wait()
      try {
        return await backend.write(body, condition, options)
      } catch (error) {
        if ((error as {code?: string}).code === 'CONFLICT') counts.conflicts++
        throw error
      }
    },
  }
}
