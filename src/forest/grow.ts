import {MorpheusError} from '../errors.js'
import {pluginMessage} from '../plugins/guard.js'
import type {ForestRecord, NodeRecord} from '../plugin-api/index.js'
import {findForest} from '../registry/document.js'
import {UNCHANGED} from '../registry/store.js'
import {addressFields, NodeBatch} from './batch.js'
import {loadProvider, type ForestDeps, type ProviderHandle} from './deps.js'
import {cannotCluster, OneNodeData, restorePending} from './one-node.js'
import {operation, sameOperation, staleHint, staleOperation} from './operation.js'
import {elsewhereError, otherDevice} from './ownership.js'
import {chooseNatsMode, loadClusterAuth, preflight, reserveNodes, type NodeView} from './plant.js'
import {asError, busy, type Busy, type Claim, type Operation, type Refused} from './runner.js'
import {settle as settleBatch} from './settle.js'
import {hasSystemAccount, loadSystemUser, newSystemUser, saveSystemUser} from './system-user.js'
import {nextNodeIds} from './util.js'

export interface AddNodesRequest {
  forestId: string
  count: number
  /**
   * Checked inside the claim's compare-and-swap against the forest as it is then (so two devices
   * deciding at once cannot both grow it): a string refuses, and nothing is written.
   */
  guard?: (forest: ForestRecord, nodes: readonly NodeRecord[], now: Date) => string | undefined
}

/** What adding nodes did (the engine's; `grow` reports it as a GrowResult of src/growth/result.ts). */
export interface AddNodesResult {
  forest: ForestRecord
  added: NodeView[]
  nodes: NodeView[]
  seconds: number
}

/**
 * Adding nodes to a live forest (grow): an Operation (src/forest/runner.ts) on the same NodeBatch
 * as plant. A forest of one node runs standalone; before a second joins, that node is given a
 * cluster block (Provider.reconfigureNode).
 */
export class Growth implements Operation<AddNodesResult> {
  batch?: NodeBatch
  /** The node that ran alone and is (being) given a cluster block for this growth: settle makes it alone again. */
  private reconfigured?: NodeRecord
  private readonly started = Date.now()

  private constructor(
    readonly deps: ForestDeps,
    readonly handle: ProviderHandle,
    readonly request: AddNodesRequest,
    private readonly since: number,
    readonly carry?: OneNodeData,
    /** node-1 of a one-node forest runs with a cluster block already (a forest shrunk to one): it is left as it is. */
    private readonly clustered = false,
  ) {}

  static async prepare(deps: ForestDeps, request: AddNodesRequest): Promise<Growth> {
    const since = Date.now()
    if (!Number.isInteger(request.count) || request.count < 1 || request.count > 100)
      throw new MorpheusError('USAGE', `nodes to add: 1 to 100, not ${request.count}`)
    const doc = await deps.store.read()
    const forest = findForest(doc, request.forestId)
    const handle = await loadProvider(deps, forest.provider)
    const elsewhere = otherDevice(forest, handle.capabilities, deps.device)
    if (elsewhere) throw elsewhereError(forest, elsewhere, 'growing it')
    if (forest.status !== 'active') {
      const stale = staleOperation(forest, deps.device)
      throw new MorpheusError(
        'USAGE',
        `forest ${forest.id} is ${forest.status}${forest.operation && !stale ? ` (a ${forest.operation.kind} is running on ${forest.operation.device})` : ''}; only an active forest can grow`,
        {
          hint: stale ? staleHint(forest) : `See \`morpheus status ${forest.id}\`.`,
        },
      )
    }
    await preflight(handle, deps.signal)
    // A forest of one node: its JetStream data is carried into the cluster, or grow refuses here, before anything is touched.
    const nodes = doc.nodes[forest.id] ?? []
    const {carry, clustered} = nodes.length === 1 ? await OneNodeData.check(deps, handle, forest, nodes[0]) : {clustered: false}
    // A provider that remakes node-1's machine (no reconfigureNode) must not remake a cluster member: it keeps it.
    return new Growth(deps, handle, request, since, carry, clustered && !handle.provider.reconfigureNode)
  }

  get forest(): ForestRecord | undefined {
    return this.batch?.forest
  }

  /**
   * Reserve the new nodes, set last_expansion and record the operation in one compare-and-swap, if
   * the guard agrees (refused) and no other operation is changing the forest (busy).
   */
  async claim(): Promise<Claim> {
    const now = new Date()
    const op = operation('grow', this.deps.device, now)
    const id = this.request.forestId
    let refused: Refused | Busy | undefined
    let claimed
    try {
      claimed = await this.deps.store.update(
        (doc) => {
          refused = undefined
          const forest = findForest(doc, id)
          const nodes = doc.nodes[id] ?? []
          if (sameOperation(forest.operation, op)) {
            return {forest, nodes, newIds: nodes.filter((n) => n.status === 'reserved').map((n) => n.id)}
          }
          // The guard first: a run that lost the race to another grow gets its refusal (cooldown), not busy.
          const refusal = this.request.guard?.(forest, nodes, now)
          if (refusal) refused = {kind: 'refused', reason: refusal}
          else if (forest.operation) refused = busy(forest.operation)
          if (refused) return UNCHANGED
          const added = reserveNodes(this.handle, forest, doc, nextNodeIds(nodes, this.request.count), now)
          forest.last_expansion = now.toISOString()
          forest.node_count = nodes.length + added.length
          forest.operation = op
          doc.nodes[id] = [...nodes, ...added]
          return {forest, nodes: doc.nodes[id], newIds: added.map((n) => n.id)}
        },
        {now: true},
      )
    } catch (error) {
      // node-1's JetStream connection (a one-node forest) must not outlive a claim that fails.
      await this.carry?.close()
      // The registry write failed (e.g. it kept changing under us): did another run get there?
      if (error instanceof MorpheusError && error.kind === 'REGISTRY') {
        const other = await otherRun(this.deps, id, this.since)
        if (other) return other
      }
      throw error
    }
    if (refused || !claimed.result) {
      await this.carry?.close()
      return refused ?? {kind: 'refused', reason: 'nothing to add'}
    }
    const {forest, nodes, newIds} = claimed.result
    const natsMode = forest.nats_mode ?? chooseNatsMode(this.handle, this.deps.settings.nats_mode)
    let auth
    let systemUser = null
    try {
      auth = await loadClusterAuth(this.deps.secrets, forest.id)
      // New nodes get the forest's system-account user when it has one (a forest planted before has none: nor do they).
      if (hasSystemAccount(natsMode)) systemUser = await loadSystemUser(this.deps.secrets, forest.id)
      // A one-node forest planted before forests had one: node-1 restarts with a cluster block now anyway, so it gets one.
      if (!systemUser && hasSystemAccount(natsMode) && this.deps.secrets && nodes.length - newIds.length === 1) {
        systemUser = newSystemUser()
        await saveSystemUser(this.deps.secrets, forest.id, systemUser)
      }
    } catch (error) {
      // The nodes are reserved and the operation recorded: the runner settles that (nothing was created).
      this.batch = new NodeBatch(this.deps, this.handle, forest, nodes, newIds, natsMode, null)
      throw error
    }
    this.batch = new NodeBatch(this.deps, this.handle, forest, nodes, newIds, natsMode, auth)
    this.batch.systemUser = systemUser
    return {kind: 'claimed'}
  }

  titles(): {create: string; wait: string} {
    const batch = this.batch!
    const existing = batch.existingNodes
    const ids = batch.newIds.join(', ')
    return {
      create: `${existing.length === 1 ? `Turning ${existing[0].id} into a cluster, then creating` : 'Creating'} ${ids} (${this.handle.name})`,
      wait:
        batch.nodes.length === 2
          ? 'Joining the cluster: each node routes to the other'
          : `Joining the cluster: every node routes to the ${batch.nodes.length - 1} others`,
    }
  }

  /**
   * A forest of one node runs without a cluster block: give that node its peers and a cluster
   * block before the new nodes start, so they can join it.
   */
  async reconfigure(): Promise<void> {
    const batch = this.batch!
    const existing = batch.existingNodes
    if (existing.length !== 1 || this.clustered) return
    const [node] = existing
    this.deps.progress.report(`${node.id}: joining a cluster (it ran alone)`)
    // Set before the remake starts: a remake cut short (Ctrl-C, a failed create) may have removed the
    // old machine already, and settle must make node-1 again alone then too.
    this.reconfigured = node
    await this.remake(
      node,
      true,
      batch.nodes.filter((n) => n.id !== node.id && n.ip),
      this.deps.signal,
    )
  }

  /**
   * node-1 with a cluster block and peers, or back alone (settle): Provider.reconfigureNode restarts
   * its server with a new config (local); a provider without it makes the machine again with the
   * same id and addresses (replaceNode: Hetzner). Its JetStream data was carried out before (OneNodeData).
   */
  private async remake(node: NodeRecord, cluster: boolean, peers: NodeRecord[], signal: AbortSignal): Promise<void> {
    const batch = this.batch!
    const provider = this.handle.provider
    const request = {
      cluster,
      clusterAuth: batch.clusterAuth,
      forest: batch.forest,
      natsMode: batch.natsMode,
      node: {...batch.nodes.find((n) => n.id === node.id)!},
      peers,
      ports: node.ports ?? batch.forest.ports ?? this.deps.settings.ports,
      progress: (m: string) => this.deps.progress.report(`${node.id}: ${m}`),
      signal,
      systemUser: batch.systemUser,
    }
    if (provider.reconfigureNode) return provider.reconfigureNode(request)
    if (!provider.replaceNode) throw cannotCluster(this.handle, batch.forest)
    this.deps.progress.report(
      `${node.id}: a new machine with the same addresses (provider ${this.handle.name} cannot change a running one)`,
    )
    const made = await provider.replaceNode({
      ...request,
      graceful: false,
      ...(batch.forest.versions ? {versions: batch.forest.versions} : {}),
    })
    await batch.record({[node.id]: {...addressFields(made ?? {}), ...(made?.versions ? {versions: made.versions} : {})}}, true)
  }

  async create(): Promise<void> {
    await this.batch!.prepare()
    await this.carry?.save()
    await this.reconfigure()
    await this.batch!.create()
  }

  async waitFormed(): Promise<void> {
    await this.batch!.waitFormed()
    const batch = this.batch!
    // node-1's streams into the cluster it became (or what an earlier grow of it kept).
    if (this.carry) await this.carry.restore(batch.nodes)
    else await restorePending(this.deps, this.handle, batch.forest, batch.nodes)
  }

  async finish(): Promise<AddNodesResult> {
    const batch = this.batch!
    const {forest, nodes} = await batch.finish()
    return {
      added: nodes.filter((n) => batch.newIds.includes(n.id)),
      forest,
      nodes,
      seconds: Math.round((Date.now() - this.started) / 100) / 10,
    }
  }

  /** Settle an unfinished growth (src/forest/settle.ts); returns the error to end with. */
  async settle(error: unknown): Promise<MorpheusError> {
    if (!this.batch) return asError(error)
    const ending = await settleBatch(this.batch, 'grow', error)
    // The node that ran alone goes back to running alone when no new node is left to join it (a cloud
    // rolls them back; elsewhere none was started yet), or it would wait for peers that never come
    // (no JetStream leader, and its carried streams could not be given back).
    const node = this.reconfigured
    if (node && (this.handle.capabilities.cloud || this.batch.attempted.size === 0)) {
      await this.remake(node, false, [], AbortSignal.timeout(600_000)).catch((e) =>
        this.deps.log.warn(
          `${node.id} still has a cluster block after the failed grow (${pluginMessage(e)}); it runs without a JetStream leader until a node joins it`,
        ),
      )
    }
    if (this.carry)
      return this.carry.settle(
        ending,
        this.batch.nodes.filter((n) => !this.batch!.newIds.includes(n.id) || this.batch!.created.has(n.id)),
      )
    return ending
  }
}

/**
 * After the registry write of the claim failed: is another run changing the forest (busy), or did
 * one grow it since we started (refused, as the guard would have)? Undefined when neither: the error stands.
 */
async function otherRun(deps: ForestDeps, forestId: string, since: number): Promise<Busy | Refused | undefined> {
  let forest: ForestRecord | undefined
  try {
    forest = (await deps.store.read()).forests[forestId]
  } catch {
    return undefined
  }
  const op = forest?.operation
  if (op && !(op.pid === process.pid && op.device === deps.device)) return busy(op)
  if (forest?.last_expansion && Date.parse(forest.last_expansion) >= since - 1000) {
    return {kind: 'refused', reason: `another run grew the forest at ${forest.last_expansion}`}
  }
  return undefined
}
