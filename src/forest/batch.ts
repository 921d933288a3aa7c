import {MorpheusError, asUnexpected} from '../errors.js'
import {isFormed, type NodeHealth} from '../monitor/nats.js'
import type {
  ClusterAuth,
  ForestRecord,
  NatsMode,
  NodeAddresses,
  NodeEndpoints,
  NodeRecord,
  ProviderCapabilities,
} from '../plugin-api/index.js'
import {UNCHANGED} from '../registry/store.js'
import type {ForestDeps, ProviderHandle} from './deps.js'
import {endpointsOf, nodePorts} from './endpoints.js'
import {sleep} from '../plugins/helpers.js'
import {mapLimit} from './util.js'
import {createLimit} from './parallel.js'

/**
 * How far apart the status changes of new nodes (creating, starting, active) are written. On a cloud
 * other devices follow a plant in the registry, so changes are written as they come, batched to at
 * most one write per interval. A machine-local forest's nodes exist only on this device, so only
 * what must be recorded is written: the claim, addresses, and the end (settle() on any stop).
 */
export const CLOUD_STATUS_INTERVAL_MS = 2000

export function statusInterval(capabilities: Pick<ProviderCapabilities, 'machineLocal'>): number {
  return capabilities.machineLocal ? Number.POSITIVE_INFINITY : CLOUD_STATUS_INTERVAL_MS
}

const ADDRESS_KEYS = ['ip', 'ipv4', 'ipv6', 'probe_address', 'ports', 'provider_ref'] as const

/** Only the address fields of what a plugin returned (a plugin must not rewrite ids or statuses). */
export function addressFields(a: NodeAddresses & {memory_bytes?: number}): Partial<NodeRecord> {
  const out: Record<string, unknown> = {}
  for (const key of [...ADDRESS_KEYS, 'memory_bytes'] as const) if (a[key] !== undefined && a[key] !== '') out[key] = a[key]
  return out as Partial<NodeRecord>
}

export function interrupted(forestId: string, what = 'is recorded in the registry with every node that was started'): MorpheusError {
  return new MorpheusError('INTERRUPTED', `interrupted: forest ${forestId} ${what}`, {
    details: {forest_id: forestId},
    hint: `Check it with \`morpheus status ${forestId}\`; remove it with \`morpheus teardown ${forestId} --yes\`.`,
  })
}

/**
 * New nodes of one forest, from reservation to formed: the part plant and grow share.
 *
 * The batch keeps a live view of every node of the forest (existing and new). Addresses are
 * recorded as soon as they exist (after prepare(), when a create call reports them, when it
 * returns), and each createNode call gets the peers whose addresses are known when it starts.
 * Status changes (creating, starting, active) go to the registry store, which batches them.
 */
export class NodeBatch {
  /** Nodes the provider was asked to create (they may exist). */
  readonly attempted = new Set<string>()
  /** Nodes whose createNode call returned. */
  readonly created = new Set<string>()
  /** Nodes whose createNode call threw (they may still exist). */
  readonly rejected = new Set<string>()
  private readonly view = new Map<string, NodeRecord>()
  private readonly writes: Array<Promise<unknown>> = []
  health: NodeHealth[] = []
  /** The forest's system-account user, rendered into new nodes' nats.conf (system mode; null on forests without one). */
  systemUser: ClusterAuth | null = null

  constructor(
    readonly deps: ForestDeps,
    readonly handle: ProviderHandle,
    public forest: ForestRecord,
    nodes: readonly NodeRecord[],
    readonly newIds: readonly string[],
    readonly natsMode: NatsMode,
    readonly clusterAuth: ClusterAuth | null,
  ) {
    for (const n of nodes) this.view.set(n.id, {...n})
    deps.store.pace(statusInterval(handle.capabilities))
  }

  get nodes(): NodeRecord[] {
    return [...this.view.values()]
  }

  get newNodes(): NodeRecord[] {
    return this.newIds.map((id) => this.view.get(id)!)
  }

  get existingNodes(): NodeRecord[] {
    return this.nodes.filter((n) => !this.newIds.includes(n.id))
  }

  /** Does the forest run as a cluster once this batch is in (anything but a forest of one)? */
  get cluster(): boolean {
    return this.view.size > 1
  }

  /** Change nodes in the live view and queue the same change for the registry. */
  record(changes: Record<string, Partial<NodeRecord>>, now = false): Promise<unknown> {
    for (const [id, change] of Object.entries(changes)) {
      const node = this.view.get(id)
      if (node) Object.assign(node, change)
    }
    const forestId = this.forest.id
    const write = this.deps.store.update(
      (doc) => {
        const list = doc.nodes[forestId]
        if (!list) return UNCHANGED
        let changed = false
        for (const node of list) {
          const change = changes[node.id]
          if (
            change &&
            Object.entries(change).some(([k, v]) => JSON.stringify((node as unknown as Record<string, unknown>)[k]) !== JSON.stringify(v))
          ) {
            Object.assign(node, change)
            changed = true
          }
        }
        return changed ? true : UNCHANGED
      },
      {now},
    )
    // Awaited (and its error surfaced) by settled(); never an unhandled rejection meanwhile.
    write.catch(() => undefined)
    this.writes.push(write)
    return write
  }

  /** Wait for every queued registry write of this batch; the first failure is thrown. */
  async settled(): Promise<void> {
    await this.deps.store.flush()
    const results = await Promise.allSettled(this.writes.splice(0))
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined
    if (failed) throw failed.reason
  }

  private checkAbort(): void {
    if (this.deps.signal.aborted) throw interrupted(this.forest.id)
  }

  /** Forest-wide set-up for these nodes (firewall, addresses allocated in advance), recorded at once. */
  async prepare(): Promise<void> {
    const provider = this.handle.provider
    if (!provider.prepare) return
    this.checkAbort()
    this.deps.progress.report('preparing the forest')
    let result
    try {
      result = await provider.prepare({
        existing: this.existingNodes,
        forest: this.forest,
        nodes: this.newNodes,
        progress: (m) => this.deps.progress.report(m),
        signal: this.deps.signal,
      })
    } catch (error) {
      this.checkAbort()
      throw error
    }
    const addresses = result?.addresses ?? {}
    const changes: Record<string, Partial<NodeRecord>> = {}
    for (const [id, a] of Object.entries(addresses)) if (this.newIds.includes(id)) changes[id] = addressFields(a)
    if (Object.keys(changes).length > 0) {
      await this.record(changes, true)
      this.deps.progress.report(`addresses: ${this.newNodes.map((n) => `${n.id} ${n.ip || '(at create)'}`).join(', ')}`)
    }
  }

  /** Peers of a node as known right now: every other node with a route address. */
  private peersOf(id: string): NodeRecord[] {
    return this.nodes.filter((n) => n.id !== id && n.ip)
  }

  private async createOne(node: NodeRecord): Promise<void> {
    this.checkAbort()
    this.attempted.add(node.id)
    void this.record({[node.id]: {status: 'creating'}})
    this.deps.progress.report(`${node.id}: creating`)
    const current = this.view.get(node.id)!
    const created = await this.handle.provider
      .createNode({
        addressesKnown: (a) => void this.record({[node.id]: addressFields(a)}),
        cluster: this.cluster,
        clusterAuth: this.clusterAuth,
        forest: this.forest,
        natsMode: this.natsMode,
        systemUser: this.systemUser,
        node: {...current},
        peers: this.peersOf(node.id),
        ports: nodePorts(current, this.forest, this.deps.settings.ports),
        progress: (m) => this.deps.progress.report(`${node.id}: ${m}`),
        signal: this.deps.signal,
        // grow: the versions the forest runs (recorded at plant), not the provider's newest default.
        ...(this.forest.versions ? {versions: this.forest.versions} : {}),
      })
      .catch((error) => {
        this.rejected.add(node.id)
        throw error
      })
    this.created.add(node.id)
    void this.record({
      [node.id]: {...addressFields(created ?? {}), ...(created?.versions ? {versions: created.versions} : {}), status: 'starting'},
    })
    this.deps.progress.report(`${node.id}: started${this.view.get(node.id)!.ip ? ` at ${this.view.get(node.id)!.ip}` : ''}`)
  }

  /**
   * Create the new nodes, several at once. When some new node has no address yet and none of the
   * forest's nodes has one, the first is created alone, so every later node knows at least one peer.
   */
  async create(): Promise<void> {
    const limit = createLimit(this.deps.settings, this.handle.capabilities)
    let queue = this.newNodes
    const failures: Array<{node: NodeRecord; reason: unknown}> = []
    if (this.cluster && queue.some((n) => !n.ip) && !this.nodes.some((n) => n.ip)) {
      const [seed, ...rest] = queue
      try {
        await this.createOne(seed)
      } catch (reason) {
        failures.push({node: seed, reason})
      }
      queue = rest
    }
    // Once a node has failed, no further node is started: the forest cannot be whole anyway.
    await mapLimit(queue, limit, async (node) => {
      if (failures.length > 0) return
      await this.createOne(node).catch((reason) => void failures.push({node, reason}))
    })
    if (failures.length === 0) return
    const tried = failures.filter((f) => this.attempted.has(f.node.id) && !this.created.has(f.node.id))
    if (tried.length > 0) void this.record(Object.fromEntries(tried.map((f) => [f.node.id, {status: 'failed' as const}])))
    this.checkAbort()
    const first = failures.find((f) => !(f.reason instanceof MorpheusError && f.reason.kind === 'INTERRUPTED')) ?? failures[0]
    // createNode's errors name the provider and the node already (src/plugins/guard.ts).
    const error = asUnexpected(first.reason)
    throw new MorpheusError(
      error.kind,
      `${failures.length} of ${this.newIds.length} new node${this.newIds.length === 1 ? '' : 's'} could not be created; ${error.message}`,
      {
        cause: first.reason,
        details: {forest_id: this.forest.id},
        hint: error.hint,
      },
    )
  }

  endpoints(node: NodeRecord) {
    return endpointsOf(this.handle.provider, node, nodePorts(node, this.forest, this.deps.settings.ports))
  }

  /**
   * The end of a plant or grow, in one write: every node's last known status, the operation
   * cleared, and `change` applied to the forest. Returns the forest and its nodes with endpoints.
   */
  async finish(
    change: (forest: ForestRecord) => void = () => undefined,
  ): Promise<{forest: ForestRecord; nodes: Array<NodeRecord & NodeEndpoints>}> {
    const id = this.forest.id
    const view = new Map(this.nodes.map((n) => [n.id, n]))
    const {doc} = await this.deps.store.update(
      (d) => {
        const f = d.forests[id]
        if (!f)
          throw new MorpheusError('REGISTRY', `forest ${id} vanished from the registry while it was being changed`, {
            hint: 'Someone removed it; its nodes may still run: check with the provider.',
          })
        f.operation = null
        change(f)
        for (const n of d.nodes[id] ?? []) Object.assign(n, view.get(n.id) ?? {})
        return true
      },
      {now: true},
    )
    await this.settled()
    this.forest = doc.forests[id]
    return {forest: this.forest, nodes: (doc.nodes[id] ?? []).map((n) => ({...n, ...this.endpoints(n)}))}
  }

  /** Probe the created nodes once and mark the healthy ones active (in the view; settle() writes it). */
  async lookOnce(timeoutMs: number): Promise<void> {
    const nodes = this.newNodes.filter((n) => this.created.has(n.id) && n.status !== 'active')
    if (nodes.length === 0) return
    const health = await this.deps.monitor(
      nodes.map((n) => this.endpoints(n).monitor),
      timeoutMs,
    )
    nodes.forEach((n, i) => {
      if (health[i].healthy) this.view.get(n.id)!.status = 'active'
    })
  }

  /** Poll every node of the forest until each routes to all others and they agree on a JetStream leader. */
  async waitFormed(): Promise<void> {
    const seconds = this.deps.settings.form_timeout_seconds
    const deadline = Date.now() + seconds * 1000
    const nodes = this.nodes
    const urls = nodes.map((n) => this.endpoints(n).monitor)
    let last = ''
    for (;;) {
      this.checkAbort()
      this.health = await this.deps.monitor(urls, 1000)
      const nowActive = nodes.filter((n, i) => this.health[i].healthy && this.view.get(n.id)!.status !== 'active')
      if (nowActive.length > 0) void this.record(Object.fromEntries(nowActive.map((n) => [n.id, {status: 'active' as const}])))
      const line = this.health
        .map((h, i) => `${nodes[i].id} ${h.healthy ? `${h.routes}/${nodes.length - 1} routes` : 'starting'}`)
        .join(', ')
      if (line !== last) this.deps.progress.report((last = line))
      if (isFormed(this.health)) return
      if (Date.now() > deadline) {
        const leaderless = this.health.some((h) => h.healthy) && !this.health.some((h) => h.jetstream_leader)
        throw new MorpheusError(
          'NOT_FORMED',
          `forest ${this.forest.id} did not form within ${seconds}s: ${line}${leaderless ? '; no JetStream leader yet' : ''}`,
          {
            details: {forest_id: this.forest.id},
            hint: `Inspect it with \`morpheus status ${this.forest.id}\`; remove it with \`morpheus teardown ${this.forest.id} --yes\`.`,
          },
        )
      }
      try {
        await sleep(this.deps.pollMs ?? 150, this.deps.signal)
      } catch {
        throw interrupted(this.forest.id)
      }
    }
  }

  /**
   * Remove the new nodes again (a cloud plant or grow that failed: nothing paid is left behind).
   * Returns the ids that could not be removed.
   */
  async rollback(): Promise<string[]> {
    const signal = AbortSignal.timeout(120_000)
    const results = await mapLimit(this.newNodes, 5, async (node) => {
      this.deps.progress.report(`${node.id}: removing (rollback)`)
      await this.handle.provider.destroyNode({...this.view.get(node.id)!}, this.forest, signal)
    })
    return results.map((r, i) => (r.status === 'rejected' ? this.newIds[i] : '')).filter(Boolean)
  }
}
