// The proof that a live-forest change loses no acked message: the official NATS client (nats.js v3)
// writes to JetStream streams all the time, remembers every message the server acknowledged, and at the
// end reads each stream back and names every acked message that is missing.
//
//   const writer = await AckedWriter.start({servers: ['nats://127.0.0.1:4222'], streams: [{name: 'R3', replicas: 3}]})
//   ... change the forest ...
//   await writer.stop()
//   const report = await writer.verify()      // one entry per stream: acked, found, missing ids
//   expect(report.every((r) => r.missing.length === 0)).toBe(true)
//
// Publishes that fail (no leader for a moment, a node restarting) are counted as errors, not acked, and
// the writer goes on: only what the server acknowledged must be there afterwards.
import {connect, type NatsConnection} from '@nats-io/transport-node'
import {jetstream, jetstreamManager, type JetStreamClient} from '@nats-io/jetstream'
import {setTimeout as sleep} from 'node:timers/promises'

export interface WriterStream {
  name: string
  /** Number of replicas when the writer creates the stream (1 or 3). */
  replicas: number
  /** Subject the stream captures; `<name>.data` by default. */
  subject?: string
}

export interface WriterOptions {
  /** Client URLs, e.g. `nats://127.0.0.1:4222`; the client fails over between them. */
  servers: string[]
  streams: WriterStream[]
  /** Pause between two rounds of publishes (one per stream); 20 ms by default. */
  intervalMs?: number
  /** Create the streams (default true); false when they exist already (written by an earlier writer). */
  create?: boolean
  user?: string
  pass?: string
  /**
   * Keep to `servers`: do not add the addresses the servers advertise (a client reaching nodes through
   * forwarders or tunnels, test/fixtures/real-nodes/clients.ts, cannot reach those).
   */
  ignoreClusterUpdates?: boolean
}

export interface StreamReport {
  stream: string
  acked: number
  found: number
  /** Ids of acked messages not in the stream. */
  missing: number[]
}

/** Connect with the settings the writer uses: reconnect for ever, quickly. */
export async function connectClient(
  servers: string[],
  auth: {user?: string; pass?: string; ignoreClusterUpdates?: boolean} = {},
): Promise<NatsConnection> {
  return connect({
    ignoreClusterUpdates: auth.ignoreClusterUpdates ?? false,
    servers,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 200,
    timeout: 5000,
    user: auth.user,
    pass: auth.pass,
  })
}

/** Create a stream (or leave it as it is when it exists). */
export async function ensureStream(nc: NatsConnection, stream: WriterStream): Promise<void> {
  const jsm = await jetstreamManager(nc)
  const subject = stream.subject ?? `${stream.name}.data`
  try {
    await jsm.streams.info(stream.name)
  } catch {
    await jsm.streams.add({name: stream.name, subjects: [subject], num_replicas: stream.replicas})
  }
}

/** Every id (the payload, a decimal number) in a stream, read with an ordered consumer. */
export async function readIds(nc: NatsConnection, stream: string): Promise<Set<number>> {
  const jsm = await jetstreamManager(nc)
  const info = await jsm.streams.info(stream)
  const ids = new Set<number>()
  const total = info.state.messages
  if (total === 0) return ids
  const js = jetstream(nc)
  const consumer = await js.consumers.get(stream)
  let seen = 0
  while (seen < total) {
    const batch = await consumer.fetch({max_messages: 500, expires: 2000})
    let got = 0
    for await (const m of batch) {
      ids.add(Number(m.string()))
      seen++
      got++
      if (seen >= total) break
    }
    if (got === 0) break
  }
  return ids
}

export class AckedWriter {
  /** Writers started and not closed yet (closeAll). */
  private static readonly open = new Set<AckedWriter>()

  /**
   * Close every writer still open. A test that fails before its own close() leaves its writer
   * publishing, and each publish re-arms a client timer: Jest would never exit. Registered below as
   * an afterAll of every test file that imports this module.
   */
  static async closeAll(): Promise<void> {
    await Promise.all([...AckedWriter.open].map((w) => w.close().catch(() => undefined)))
  }

  /** Acked ids per stream. */
  readonly acked = new Map<string, number[]>()
  /** Publishes that were not acked (timeouts, no responders, errors while a node changes). */
  errors = 0
  private running = true
  private loop?: Promise<void>
  private next = 1

  private constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    readonly options: WriterOptions,
  ) {}

  static async start(options: WriterOptions): Promise<AckedWriter> {
    const nc = await connectClient(options.servers, options)
    if (options.create !== false) for (const s of options.streams) await ensureStream(nc, s)
    const writer = new AckedWriter(nc, jetstream(nc, {timeout: 3000}), options)
    for (const s of options.streams) writer.acked.set(s.name, [])
    AckedWriter.open.add(writer)
    writer.loop = writer.run()
    return writer
  }

  /** How many publishes were acked so far, over all streams. */
  get ackedCount(): number {
    let n = 0
    for (const ids of this.acked.values()) n += ids.length
    return n
  }

  /** Resolve once at least `count` more publishes were acked (or throw after `timeoutMs`). */
  async waitForAcks(count: number, timeoutMs = 30_000): Promise<void> {
    const target = this.ackedCount + count
    const deadline = Date.now() + timeoutMs
    while (this.ackedCount < target) {
      if (Date.now() > deadline)
        throw new Error(`writer: only ${this.ackedCount} of ${target} acks after ${timeoutMs} ms (${this.errors} errors)`)
      await sleep(50)
    }
  }

  private async run(): Promise<void> {
    const interval = this.options.intervalMs ?? 20
    while (this.running && !this.nc.isClosed()) {
      for (const s of this.options.streams) {
        if (!this.running) break
        const id = this.next++
        try {
          await this.js.publish(s.subject ?? `${s.name}.data`, String(id), {msgID: `w-${id}`})
          this.acked.get(s.name)!.push(id)
        } catch {
          this.errors++
        }
      }
      await sleep(interval)
    }
  }

  /** Stop writing (the connection stays open for verify()). */
  async stop(): Promise<void> {
    this.running = false
    await this.loop
  }

  /**
   * Read every stream back (through `servers`, or the writer's own) and report which ids acked before the
   * read are missing. After stop() that is every acked id; while writing, those acked so far.
   */
  async verify(servers?: string[]): Promise<StreamReport[]> {
    const nc = servers ? await connectClient(servers, this.options) : this.nc
    try {
      const out: StreamReport[] = []
      for (const s of this.options.streams) {
        // The acks known before the read: safe while the writer still writes (what is acked later is not looked for).
        const acked = [...(this.acked.get(s.name) ?? [])]
        const found = await readIds(nc, s.name)
        out.push({stream: s.name, acked: acked.length, found: found.size, missing: acked.filter((id) => !found.has(id))})
      }
      return out
    } finally {
      if (servers) await nc.close()
    }
  }

  async close(): Promise<void> {
    AckedWriter.open.delete(this)
    this.running = false
    await this.loop
    await this.nc.close()
  }
}

// Every test file that uses a writer closes what its failed tests left open (see closeAll).
if (typeof afterAll === 'function') afterAll(() => AckedWriter.closeAll())
