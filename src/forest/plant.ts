import {MorpheusError, fromPluginError} from '../errors.js'
import type {ForestRecord, NatsMode, NodeRecord, Provider, RegistryBackend} from '../plugin-api/index.js'
import {isFormed, probeAll, type NodeHealth} from '../monitor/nats.js'
import {updateRegistry, UNCHANGED} from '../registry/update.js'
import type {Runtime} from '../runtime.js'
import {mapLimit, newForestId, nextNodeIds, pause} from './util.js'

export interface PlantRequest {
  provider: string
  size: string
  nodes?: number
}

export interface PlantResult {
  forest: ForestRecord
  nodes: Array<NodeRecord & {monitor: string; client: string}>
  seconds: number
}

export type Report = (message: string) => void

/** Resolve a size name (or --nodes) to a node count using forest.sizes. */
export function nodeCount(sizes: Record<string, number>, size: string, nodes?: number): number {
  if (nodes !== undefined) return nodes
  const count = sizes[size]
  if (count === undefined) {
    throw new MorpheusError('USAGE', `unknown size "${size}"; sizes: ${Object.entries(sizes).map(([k, v]) => `${k} (${v} node${v === 1 ? '' : 's'})`).join(', ')}`, {
      hint: 'Pick one of those, pass --nodes N, or add a size with `morpheus config set forest.sizes.<name> <N>`.',
    })
  }
  return count
}

export function interrupted(forestId: string): MorpheusError {
  return new MorpheusError('INTERRUPTED', `interrupted: forest ${forestId} is recorded in the registry as interrupted, with every node that was started`, {
    details: {forest_id: forestId},
    hint: `Remove it with \`morpheus teardown ${forestId} --yes\`.`,
  })
}

/**
 * Planting a forest, phase by phase, so the command can show each phase with listr2
 * on a terminal or as plain lines otherwise. The registry always says what exists:
 * the forest and its nodes are claimed before anything is created, each node is
 * updated as it is created and as it becomes healthy, and a failure or an interrupt
 * marks the forest so teardown can remove it.
 */
export class Planting {
  forest!: ForestRecord
  nodes: NodeRecord[] = []
  private readonly started = Date.now()
  private health: NodeHealth[] = []

  private constructor(
    private readonly runtime: Runtime,
    readonly provider: Provider,
    readonly backend: RegistryBackend,
    readonly count: number,
    readonly request: PlantRequest,
    readonly natsMode: NatsMode,
    readonly signal: AbortSignal,
    private readonly maxParallel: number,
  ) {}

  static async prepare(runtime: Runtime, request: PlantRequest, signal: AbortSignal): Promise<Planting> {
    const forestConfig = runtime.config.values.forest as {sizes: Record<string, number>; nats_mode: NatsMode}
    const count = nodeCount(forestConfig.sizes, request.size, request.nodes)
    if (count < 1) throw new MorpheusError('USAGE', `a forest needs at least one node, not ${count}`)
    const {entry, provider} = await runtime.provider(request.provider)
    const modes = entry.descriptor.capabilities.natsModes
    const natsMode = provider.natsMode ?? (modes.includes(forestConfig.nats_mode) ? forestConfig.nats_mode : modes[0])
    try {
      await provider.preflight()
    } catch (error) {
      throw fromPluginError(error, `provider ${entry.descriptor.name}`, 'PROVIDER')
    }
    const {backend} = await runtime.registry()
    const caps = entry.descriptor.capabilities
    const maxParallel = caps.parallelCreate ? (caps.maxParallel ?? Number.MAX_SAFE_INTEGER) : 1
    return new Planting(runtime, provider, backend, count, {...request, provider: entry.descriptor.name}, natsMode, signal, maxParallel)
  }

  /** Claim the forest and reserve its nodes in one compare-and-swap. */
  async claim(): Promise<void> {
    if (this.signal.aborted) throw new MorpheusError('INTERRUPTED', 'interrupted before anything was created')
    const now = new Date()
    const {result} = await updateRegistry(this.backend, (doc) => {
      const id = newForestId(doc, now)
      const forest: ForestRecord = {
        created_at: now.toISOString(),
        id,
        last_expansion: null,
        nats_mode: this.natsMode,
        node_count: this.count,
        provider: this.request.provider,
        size: this.request.nodes === undefined ? this.request.size : `${this.request.nodes}`,
        status: 'planting',
      }
      const existing = Object.values(doc.nodes).flat().filter((n) => doc.forests[n.forest_id]?.provider === this.request.provider)
      let reservations
      try {
        reservations = this.provider.reserve({count: this.count, existing, forest, ids: nextNodeIds([], this.count)})
      } catch (error) {
        throw fromPluginError(error, `provider ${this.request.provider}`, 'PROVIDER')
      }
      if (!Array.isArray(reservations) || reservations.length !== this.count) {
        throw new MorpheusError('PROVIDER', `provider ${this.request.provider}: reserve() returned ${Array.isArray(reservations) ? reservations.length : 'no'} reservations for ${this.count} nodes`)
      }
      const nodes: NodeRecord[] = reservations.map((r) => ({
        created_at: now.toISOString(),
        forest_id: id,
        id: r.id,
        ip: r.ip,
        role: 'edge',
        status: 'creating',
        ...(r.ipv4 ? {ipv4: r.ipv4} : {}),
        ...(r.ipv6 ? {ipv6: r.ipv6} : {}),
        ...(r.provider_ref ? {provider_ref: r.provider_ref} : {}),
      }))
      doc.forests[id] = forest
      doc.nodes[id] = nodes
      return {forest, nodes}
    })
    this.forest = result!.forest
    this.nodes = result!.nodes
  }

  private async updateNodes(changes: Map<string, Partial<NodeRecord>>): Promise<void> {
    const forestId = this.forest.id
    const {doc} = await updateRegistry(this.backend, (d) => {
      const list = d.nodes[forestId]
      if (!list) return UNCHANGED
      for (const node of list) {
        const change = changes.get(node.id)
        if (change) Object.assign(node, change)
      }
      return true
    })
    this.nodes = doc.nodes[forestId] ?? this.nodes
  }

  private async dropNodes(ids: ReadonlySet<string>): Promise<void> {
    const forestId = this.forest.id
    const {doc} = await updateRegistry(this.backend, (d) => {
      const list = d.nodes[forestId]
      if (!list) return UNCHANGED
      d.nodes[forestId] = list.filter((n) => !ids.has(n.id))
      return true
    })
    this.nodes = doc.nodes[forestId] ?? []
  }

  /** Create every node, several at once, recording each in the registry as it starts. */
  async create(report: Report): Promise<void> {
    if (this.provider.prepareForest) {
      report('preparing the forest')
      try {
        await this.provider.prepareForest(this.forest, this.nodes)
      } catch (error) {
        throw fromPluginError(error, `provider ${this.request.provider}`, 'PROVIDER')
      }
    }
    const limit = Math.min((this.runtime.config.values.forest as {parallel: number}).parallel, this.maxParallel)
    const attempted = new Set<string>()
    const nodes = [...this.nodes]
    const results = await mapLimit(nodes, limit, async (node) => {
      if (this.signal.aborted) throw interrupted(this.forest.id)
      attempted.add(node.id)
      report(`${node.id}: creating`)
      const created = await this.provider.createNode({
        forest: this.forest,
        natsMode: this.natsMode,
        node,
        peers: nodes.filter((n) => n.id !== node.id),
        ports: this.runtime.ports,
        progress: (m) => report(`${node.id}: ${m}`),
        signal: this.signal,
      })
      await this.updateNodes(new Map([[node.id, {...created, status: 'starting'}]]))
      report(`${node.id}: started at ${created.ip}`)
      return created
    })
    const failed = results.map((r, i) => ({node: nodes[i], r})).filter((x) => x.r.status === 'rejected')
    if (failed.length > 0) {
      // Nodes never attempted do not exist: drop them, so the registry lists exactly what was made.
      const never = new Set(failed.filter((f) => !attempted.has(f.node.id)).map((f) => f.node.id))
      if (never.size > 0) await this.dropNodes(never)
      const tried = failed.filter((f) => attempted.has(f.node.id))
      if (tried.length > 0) await this.updateNodes(new Map(tried.map((f) => [f.node.id, {status: 'failed' as const}])))
      if (this.signal.aborted) throw interrupted(this.forest.id)
      const first = (failed[0].r as PromiseRejectedResult).reason
      const error = fromPluginError(first, `provider ${this.request.provider}: ${failed[0].node.id}`, 'PROVIDER')
      throw new MorpheusError(error.kind, `${failed.length} of ${nodes.length} nodes could not be created; ${error.message}`, {
        cause: first,
        details: {forest_id: this.forest.id},
        hint: error.hint ?? `Remove what was made with \`morpheus teardown ${this.forest.id} --yes\`.`,
      })
    }
  }

  private endpoints(node: NodeRecord) {
    try {
      return this.provider.endpoints(node, this.runtime.ports)
    } catch (error) {
      throw fromPluginError(error, `provider ${this.request.provider}: ${node.id}`, 'PROVIDER')
    }
  }

  private monitorUrls(): string[] {
    return this.nodes.map((n) => this.endpoints(n).monitor)
  }

  /** Poll every node at once until each routes to all others and JetStream has a leader. */
  async waitFormed(report: Report): Promise<void> {
    const seconds = (this.runtime.config.values.forest as {form_timeout_seconds: number}).form_timeout_seconds
    const deadline = Date.now() + seconds * 1000
    const urls = this.monitorUrls()
    const nodes = [...this.nodes]
    const recorded = new Set<string>()
    let last = ''
    while (true) {
      if (this.signal.aborted) throw interrupted(this.forest.id)
      this.health = await probeAll(urls, 1000)
      const nowHealthy = nodes.filter((n, i) => this.health[i].healthy && !recorded.has(n.id))
      if (nowHealthy.length > 0) {
        for (const n of nowHealthy) recorded.add(n.id)
        await this.updateNodes(new Map(nowHealthy.map((n) => [n.id, {status: 'active' as const}])))
      }
      const line = this.health.map((h, i) => `${nodes[i].id} ${h.healthy ? `${h.routes}/${nodes.length - 1} routes` : 'starting'}`).join(', ')
      if (line !== last) report((last = line))
      if (isFormed(this.health)) return
      if (Date.now() > deadline) {
        throw new MorpheusError('NOT_FORMED', `forest ${this.forest.id} did not form within ${seconds}s: ${line}${this.health.some((h) => h.healthy) && !this.health[0].jetstream_leader ? '; no JetStream leader yet' : ''}`, {
          details: {forest_id: this.forest.id},
          hint: `Inspect it with \`morpheus status ${this.forest.id}\`; remove it with \`morpheus teardown ${this.forest.id} --yes\`.`,
        })
      }
      try {
        await pause(150, this.signal)
      } catch {
        throw interrupted(this.forest.id)
      }
    }
  }

  async finish(): Promise<PlantResult> {
    const id = this.forest.id
    const {doc} = await updateRegistry(this.backend, (d) => {
      const f = d.forests[id]
      if (!f) return UNCHANGED
      f.status = 'active'
      return true
    })
    this.forest = doc.forests[id] ?? this.forest
    this.nodes = doc.nodes[id] ?? this.nodes
    return this.result()
  }

  result(): PlantResult {
    return {
      forest: this.forest,
      nodes: this.nodes.map((n) => ({...n, ...this.endpoints(n)})),
      seconds: Math.round((Date.now() - this.started) / 100) / 10,
    }
  }

  /** Mark the forest failed or interrupted; the registry keeps every node so teardown can remove them. */
  async abandon(status: 'failed' | 'interrupted', reason: string): Promise<void> {
    if (!this.forest) return
    const id = this.forest.id
    await updateRegistry(this.backend, (d) => {
      const f = d.forests[id]
      if (!f) return UNCHANGED
      f.status = status
      f.note = reason.slice(0, 300)
      return true
    })
  }
}
