import type {NodeHealth} from '../monitor/nats.js'
import type {
  CreatedNode,
  CreateNodeRequest,
  ForestRecord,
  NatsPorts,
  NodeEndpoints,
  NodeRecord,
  NodeReservation,
  NodeVersions,
  PrepareRequest,
  PrepareResult,
  Provider,
  ProviderNode,
  ReconfigureRequest,
  ReplaceNodeRequest,
  ReserveRequest,
} from '../plugin-api/index.js'

export interface Machine {
  id: string
  forest_id: string
  ip: string
  cluster: boolean
  peers: string[]
  running: boolean
  /** What the machine runs (the request's pinned versions over MemoryProviderOptions.defaultVersions). */
  versions?: NodeVersions
  /** How many machines this node has had (replaceNode adds one). */
  generation?: number
}

export interface MemoryProviderOptions {
  /** Addresses exist only once createNode runs (like a cloud without Primary IPs). */
  addressesAtCreate?: boolean
  /** Addresses come from prepare() (like Primary IPs made in advance). */
  addressesAtPrepare?: boolean
  /** Per-node ports on one address (127.0.0.1:4222+i, ...), like several servers on one host. */
  portsPerNode?: boolean
  createDelayMs?: number
  /**
   * A createNode that is interrupted (or fails, see failCreate) leaves its machine behind: the
   * machine is made at once, then the wait of createDelayMs is cut short and the call throws,
   * like a cloud server whose create request went through before Ctrl-C. Without it, an aborted
   * or failed create has made nothing.
   */
  leaveOnAbort?: boolean
  /** createNode of these node ids throws. */
  failCreate?: ReadonlySet<string>
  failDestroy?: ReadonlySet<string>
  failList?: boolean
  failPrepare?: boolean
  failDestroyForest?: boolean
  /** reserve() returns this many reservations, whatever was asked. */
  reserveCount?: number
  /** Nodes answer but never route (a cluster that does not form). */
  noRoutes?: boolean
  /** What a node runs when the request pins nothing (default {nats: '2.10.0'}). */
  defaultVersions?: NodeVersions
  /** replaceNode of these node ids throws (after the old machine is gone). */
  failReplace?: ReadonlySet<string>
  /**
   * replaceNode waits this long between removing the old machine and making the new one (a cloud's
   * delete-then-create); an abort in that wait throws with no machine for the node.
   */
  replaceDelayMs?: number
  /** Without replaceNode, like a provider that cannot replace a machine. */
  noReplace?: boolean
  /** Without reconfigureNode, like a cloud provider that can only make a machine again (Hetzner). */
  noReconfigure?: boolean
}

function failed(message: string): Error {
  return Object.assign(new Error(message), {code: 'FAILED'})
}

/** Wait `ms`; an abort of `signal` cuts it short with a FAILED 'aborted' (what a provider call does). */
function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(failed('aborted'))
    const t = setTimeout(resolve, ms)
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t)
        reject(failed('aborted'))
      },
      {once: true},
    )
  })
}

/**
 * A provider whose "machines" live in memory, with a monitor that reports their health the way
 * NATS would: a running node routes to every other running node of its forest that it knows
 * (directly or through a peer), and the lowest id is the JetStream leader. Faults are injectable.
 */
export class MemoryProvider implements Provider {
  readonly name = 'memory'
  readonly machines = new Map<string, Machine>()
  readonly calls: string[] = []
  private next = 1

  constructor(public options: MemoryProviderOptions = {}) {}

  private key(forestId: string, nodeId: string): string {
    return `${forestId}/${nodeId}`
  }

  async preflight(): Promise<void> {
    this.calls.push('preflight')
  }

  reserve(request: ReserveRequest): NodeReservation[] {
    const count = this.options.reserveCount ?? request.count
    const taken = new Set(request.existing.map((n) => n.ip))
    const out: NodeReservation[] = []
    let i = 1
    for (const id of request.ids.slice(0, count)) {
      if (this.options.addressesAtCreate || this.options.addressesAtPrepare) {
        out.push({id, ip: ''})
        continue
      }
      if (this.options.portsPerNode) {
        const n = request.existing.length + out.length
        out.push({id, ip: '127.0.0.1', ports: {client: 14222 + n, cluster: 16222 + n, monitor: 18222 + n}})
        continue
      }
      while (taken.has(`10.0.0.${i}`)) i++
      taken.add(`10.0.0.${i}`)
      out.push({id, ip: `10.0.0.${i}`})
    }
    while (out.length < count) out.push({id: `extra-${out.length}`, ip: ''})
    return out
  }

  async prepare(request: PrepareRequest): Promise<PrepareResult> {
    this.calls.push(`prepare ${request.nodes.map((n) => n.id).join(',')}`)
    if (this.options.failPrepare) throw failed('prepare failed')
    if (!this.options.addressesAtPrepare) return {}
    return {addresses: Object.fromEntries(request.nodes.map((n) => [n.id, {ip: `10.1.0.${this.next++}`}]))}
  }

  async createNode(request: CreateNodeRequest): Promise<CreatedNode> {
    const {node, forest} = request
    this.calls.push(`create ${node.id} peers=${request.peers.map((p) => p.id).join(',')}`)
    if (this.options.leaveOnAbort) {
      // The machine exists from the first moment: whatever happens next, it is left behind.
      this.machines.set(this.key(forest.id, node.id), {
        cluster: request.cluster,
        forest_id: forest.id,
        id: node.id,
        ip: node.ip || `10.2.0.${this.next++}`,
        peers: request.peers.map((p) => p.id),
        running: true,
      })
    }
    if (this.options.createDelayMs) await abortableDelay(this.options.createDelayMs, request.signal)
    if (request.signal.aborted) throw failed('aborted')
    if (this.options.failCreate?.has(node.id)) throw failed(`cannot create ${node.id}`)
    const ip = node.ip || this.machines.get(this.key(forest.id, node.id))?.ip || `10.2.0.${this.next++}`
    if (!node.ip) request.addressesKnown({ip})
    const versions = this.versionsFor(request.versions)
    this.machines.set(this.key(forest.id, node.id), {
      cluster: request.cluster,
      forest_id: forest.id,
      generation: 1,
      id: node.id,
      ip,
      peers: request.peers.map((p) => p.id),
      running: true,
      versions,
    })
    return {ip, memory_bytes: 1 << 30, provider_ref: `mem:${forest.id}/${node.id}`, versions}
  }

  private versionsFor(pinned: NodeVersions | undefined): NodeVersions {
    return {...(this.options.defaultVersions ?? {nats: '2.10.0'}), ...pinned}
  }

  /** A new machine for the node: same id and address, the request's versions. Absent with noReplace. */
  get replaceNode(): ((request: ReplaceNodeRequest) => Promise<CreatedNode>) | undefined {
    if (this.options.noReplace) return undefined
    return async (request) => {
      const {forest, node} = request
      this.calls.push(
        `replace ${node.id}${request.graceful ? ' graceful' : ''}${request.versions?.nats ? ` nats=${request.versions.nats}` : ''}`,
      )
      const old = this.machines.get(this.key(forest.id, node.id))
      this.machines.delete(this.key(forest.id, node.id))
      if (this.options.failReplace?.has(node.id)) throw failed(`cannot replace ${node.id}`)
      if (this.options.replaceDelayMs) await abortableDelay(this.options.replaceDelayMs, request.signal)
      const versions = this.versionsFor(request.versions)
      this.machines.set(this.key(forest.id, node.id), {
        cluster: request.cluster,
        forest_id: forest.id,
        generation: (old?.generation ?? 1) + 1,
        id: node.id,
        ip: node.ip,
        peers: request.peers.map((p) => p.id),
        running: true,
        versions,
      })
      return {ip: node.ip, memory_bytes: 1 << 30, provider_ref: `mem:${forest.id}/${node.id}`, versions}
    }
  }

  /** A running node's new peers and cluster flag. Absent with noReconfigure. */
  get reconfigureNode(): ((request: ReconfigureRequest) => Promise<void>) | undefined {
    if (this.options.noReconfigure) return undefined
    return async (request) => {
      this.calls.push(`reconfigure ${request.node.id} peers=${request.peers.map((p) => p.id).join(',')}`)
      const m = this.machines.get(this.key(request.forest.id, request.node.id))
      if (m) Object.assign(m, {cluster: request.cluster, peers: request.peers.map((p) => p.id)})
    }
  }

  async destroyNode(node: NodeRecord, forest: ForestRecord): Promise<void> {
    this.calls.push(`destroy ${node.id}`)
    if (this.options.failDestroy?.has(node.id)) throw failed(`cannot destroy ${node.id}`)
    this.machines.delete(this.key(forest.id, node.id))
  }

  async listNodes(forestId: string): Promise<ProviderNode[]> {
    if (this.options.failList) throw Object.assign(new Error('listing failed'), {code: 'UNREACHABLE'})
    return [...this.machines.values()]
      .filter((m) => m.forest_id === forestId)
      .map((m) => ({forest_id: forestId, id: m.id, provider_ref: `mem:${forestId}/${m.id}`, running: m.running}))
  }

  endpoints(node: NodeRecord, ports: NatsPorts): NodeEndpoints {
    return {client: `nats://${node.ip}:${ports.client}`, monitor: `mem://${node.forest_id}/${node.id}`}
  }

  async destroyForest(forest: ForestRecord): Promise<void> {
    this.calls.push(`destroyForest ${forest.id}`)
    if (this.options.failDestroyForest) throw failed('forest clean-up failed')
  }

  /** The monitor for the engine: health of the machines behind mem:// URLs. */
  monitor = async (urls: readonly string[]): Promise<NodeHealth[]> => {
    return urls.map((url) => {
      const key = url.replace(/^mem:\/\//, '')
      const m = this.machines.get(key)
      if (!m || !m.running) return {error: 'connection refused', healthy: false, reachable: false, routes: 0}
      const mates = [...this.machines.values()].filter((o) => o.forest_id === m.forest_id && o.running && o.id !== m.id)
      // Routes form when either side knows the other (gossip spreads the rest): a connected mesh is full.
      const connected = m.cluster && mates.every((o) => o.cluster) && this.connected(m, mates)
      const routes = this.options.noRoutes || !connected ? 0 : mates.length
      const all = [m, ...mates].map((o) => o.id).sort()
      return {
        healthy: true,
        jetstream_leader: m.cluster ? (routes === mates.length ? all[0] : undefined) : m.id,
        reachable: true,
        routes,
        server_name: m.id,
        ...(m.versions?.nats ? {version: m.versions.nats} : {}),
      }
    })
  }

  private connected(m: Machine, mates: Machine[]): boolean {
    const all = [m, ...mates]
    const seen = new Set([m.id])
    let grew = true
    while (grew) {
      grew = false
      for (const a of all)
        for (const b of all) {
          if (seen.has(a.id) && !seen.has(b.id) && (a.peers.includes(b.id) || b.peers.includes(a.id))) {
            seen.add(b.id)
            grew = true
          }
        }
    }
    return seen.size === all.length
  }
}
