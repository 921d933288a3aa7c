import {randomBytes} from 'node:crypto'

import {MorpheusError} from '../errors.js'
import type {ClusterAuth, CostEstimate, ForestRecord, NatsMode, NodeRecord, RegistryDocument, SecretStore} from '../plugin-api/index.js'
import {NodeBatch} from './batch.js'
import {loadProvider, type ForestDeps, type ProviderHandle} from './deps.js'
import {operation, sameOperation} from './operation.js'
import {asError, type Claimed, type Operation} from './runner.js'
import {settle as settleBatch} from './settle.js'
import {hasSystemAccount, newSystemUser, saveSystemUser, SYSTEM_USER, SYSTEM_USER_NAME} from './system-user.js'
import {newForestId, nextNodeIds} from './util.js'

export interface PlantRequest {
  provider: string
  size: string
  /** An explicit node count; wins over the size. */
  nodes?: number
}

export interface NodeView extends NodeRecord {
  monitor: string
  client: string
}

export interface PlantResult {
  forest: ForestRecord
  nodes: NodeView[]
  seconds: number
  /** The provider's monthly cost estimate made before anything was created (null when it gives none). */
  estimate: CostEstimate | null
}

/** Resolve a size name (or --nodes, which wins) to a node count using forest.sizes. */
export function nodeCount(sizes: Record<string, number>, size: string, nodes?: number): number {
  if (nodes !== undefined) return nodes
  const count = sizes[size]
  if (count === undefined) {
    throw new MorpheusError(
      'USAGE',
      `unknown size "${size}"; sizes: ${Object.entries(sizes)
        .map(([k, v]) => `${k} (${v} node${v === 1 ? '' : 's'})`)
        .join(', ')}`,
      {
        hint: 'Pick one of those, pass --nodes N, or add a size with `morpheus config set forest.sizes.<name> <N>`.',
      },
    )
  }
  return count
}

/** The NATS mode a forest runs: what the provider's own config fixes, else forest.nats_mode if the provider can, else its first. */
export function chooseNatsMode(handle: ProviderHandle, wanted: NatsMode): NatsMode {
  const modes = handle.capabilities.natsModes
  return handle.provider.natsMode ?? (modes.includes(wanted) ? wanted : modes[0])
}

export async function preflight(handle: ProviderHandle, signal: AbortSignal): Promise<void> {
  await handle.provider.preflight(signal)
}

const CLUSTER_AUTH = 'cluster_auth'

/** The names of every per-forest secret the core keeps in a registry's secret storage (migrate copies them). */
export const FOREST_SECRET_NAMES: readonly string[] = [CLUSTER_AUTH, SYSTEM_USER]

/** New route credentials for a forest: a random password no other forest shares. */
export function newClusterAuth(): ClusterAuth {
  return {password: randomBytes(24).toString('base64url'), user: 'morpheus-route'}
}

export async function saveClusterAuth(secrets: SecretStore | undefined, forestId: string, auth: ClusterAuth): Promise<void> {
  await secrets?.set(forestId, CLUSTER_AUTH, JSON.stringify(auth))
}

/** A forest's route credentials from the registry's secret storage (null when it keeps none). */
export async function loadClusterAuth(secrets: SecretStore | undefined, forestId: string): Promise<ClusterAuth | null> {
  const text = await secrets?.get(forestId, CLUSTER_AUTH)
  if (!text) return null
  const parsed = JSON.parse(text) as ClusterAuth
  return typeof parsed.user === 'string' && typeof parsed.password === 'string' ? parsed : null
}

/** Every node record this provider has in the registry, across forests (what reserve() must avoid). */
export function providerNodes(doc: RegistryDocument, provider: string): NodeRecord[] {
  return Object.values(doc.nodes)
    .flat()
    .filter((n) => doc.forests[n.forest_id]?.provider === provider)
}

/** Reservations from the provider, checked: exactly the ids asked for, each with a string ip. */
export function reserveNodes(handle: ProviderHandle, forest: ForestRecord, doc: RegistryDocument, ids: string[], now: Date): NodeRecord[] {
  const reservations = handle.provider.reserve({count: ids.length, existing: providerNodes(doc, handle.name), forest, ids})
  const problem = !Array.isArray(reservations)
    ? 'no list'
    : reservations.length !== ids.length
      ? `${reservations.length} reservations for ${ids.length} nodes`
      : reservations.some((r, i) => !r || r.id !== ids[i] || typeof r.ip !== 'string')
        ? 'reservations whose ids are not the ids asked for, or without an ip string'
        : undefined
  if (problem)
    throw new MorpheusError('PROVIDER', `provider ${handle.name}: reserve() returned ${problem}`, {
      hint: `This is a bug in the provider plugin ${handle.name}.`,
    })
  return reservations.map((r) => ({
    created_at: now.toISOString(),
    forest_id: forest.id,
    id: r.id,
    ip: r.ip,
    role: 'edge',
    status: 'reserved' as const,
    ...(r.ipv4 ? {ipv4: r.ipv4} : {}),
    ...(r.ipv6 ? {ipv6: r.ipv6} : {}),
    ...(r.probe_address ? {probe_address: r.probe_address} : {}),
    ...(r.ports ? {ports: r.ports} : {}),
    ...(r.provider_ref ? {provider_ref: r.provider_ref} : {}),
  }))
}

/**
 * Planting a forest: an Operation (src/forest/runner.ts) the runner takes through claim, create
 * and form, so a command can show each phase. The registry always says what exists: the forest and its nodes are claimed before anything is
 * created, addresses are recorded as they appear, statuses as they change (batched by the store),
 * and anything that stops it ends in settle(), the one policy for unfinished operations.
 */
export class Plant implements Operation<PlantResult, Claimed> {
  readonly claimTitle = 'Claiming the forest in the registry'
  batch?: NodeBatch
  private readonly started = Date.now()

  private constructor(
    readonly deps: ForestDeps,
    readonly handle: ProviderHandle,
    readonly count: number,
    readonly size: string,
    readonly natsMode: NatsMode,
  ) {}

  static async prepare(deps: ForestDeps, request: PlantRequest): Promise<Plant> {
    const count = nodeCount(deps.settings.sizes, request.size, request.nodes)
    if (!Number.isInteger(count) || count < 1 || count > 100) throw new MorpheusError('USAGE', `a forest has 1 to 100 nodes, not ${count}`)
    const handle = await loadProvider(deps, request.provider)
    await preflight(handle, deps.signal)
    const size = request.nodes === undefined ? request.size : 'custom'
    return new Plant(deps, handle, count, size, chooseNatsMode(handle, deps.settings.nats_mode))
  }

  get forest(): ForestRecord | undefined {
    return this.batch?.forest
  }

  private estimated?: CostEstimate | null

  /** What the forest would cost a month, from the provider's price list (null when it has none); asked once. */
  async estimate(): Promise<CostEstimate | null> {
    if (this.estimated !== undefined) return this.estimated
    const {provider} = this.handle
    if (!provider.estimate) return (this.estimated = null)
    this.estimated = await provider.estimate({count: this.count, signal: this.deps.signal})
    return this.estimated
  }

  /** A plant that costs money (a cloud provider, or a price above zero) is confirmed before anything is made. */
  async paid(): Promise<boolean> {
    const e = await this.estimate()
    return this.handle.capabilities.cloud || (e !== null && e.monthly.amount > 0)
  }

  /** Claim the forest and reserve its nodes in one compare-and-swap; store its route credentials. */
  async claim(): Promise<Claimed> {
    const now = new Date()
    const op = operation('plant', this.deps.device, now)
    let chosen: string | undefined
    const {result} = await this.deps.store.update(
      (doc) => {
        // Applied again after a conflict or a retried write: our own claim, if it landed, is kept.
        if (chosen && sameOperation(doc.forests[chosen]?.operation, op)) {
          return {forest: doc.forests[chosen], nodes: doc.nodes[chosen] ?? []}
        }
        const id = (chosen = newForestId(doc, now))
        const forest: ForestRecord = {
          created_at: now.toISOString(),
          id,
          last_expansion: null,
          nats_mode: this.natsMode,
          node_count: this.count,
          operation: op,
          ports: this.deps.settings.ports,
          provider: this.handle.name,
          size: this.size,
          status: 'planting',
          ...(this.handle.capabilities.machineLocal ? {device: this.deps.device} : {}),
        }
        const nodes = reserveNodes(this.handle, forest, doc, nextNodeIds([], this.count), now)
        doc.forests[id] = forest
        doc.nodes[id] = nodes
        return {forest, nodes}
      },
      {now: true},
    )
    const {forest, nodes} = result!
    const auth: ClusterAuth | null = this.deps.secrets ? newClusterAuth() : null
    // The forest is claimed from here on: whatever stops the plant now is settled (settle()).
    this.batch = new NodeBatch(
      this.deps,
      this.handle,
      forest,
      nodes,
      nodes.map((n) => n.id),
      this.natsMode,
      auth,
    )
    if (auth) await saveClusterAuth(this.deps.secrets, forest.id, auth)
    // The system account's admin user (system mode): what shrink and grow from one node administer JetStream with.
    if (auth && hasSystemAccount(this.natsMode)) {
      this.batch.systemUser = newSystemUser()
      await saveSystemUser(this.deps.secrets, forest.id, this.batch.systemUser)
    }
    this.deps.progress.report(`${forest.id}: ${nodes.map((n) => `${n.id} ${n.ip || '(address at create)'}`).join(', ')}`)
    return {kind: 'claimed'}
  }

  titles(): {create: string; wait: string} {
    return {
      create: `Creating ${this.count} node${this.count === 1 ? '' : 's'} (${this.handle.name})`,
      wait: 'Waiting for routes and a JetStream leader',
    }
  }

  async create(): Promise<void> {
    await this.batch!.prepare()
    await this.batch!.create()
  }

  async waitFormed(): Promise<void> {
    await this.batch!.waitFormed()
  }

  /** Record the forest active (with every node's last status) in one write. */
  async finish(): Promise<PlantResult> {
    const versions = this.batch!.newNodes.find((n) => n.versions)?.versions
    const {forest, nodes} = await this.batch!.finish((f) => {
      f.status = 'active'
      // What the nodes were started with: grow and repair make new nodes of the same versions.
      if (versions && !f.versions) f.versions = versions
    })
    return {estimate: this.estimated ?? null, forest, nodes, seconds: Math.round((Date.now() - this.started) / 100) / 10}
  }

  /** Settle an unfinished plant (src/forest/settle.ts); returns the error to end with. */
  async settle(error: unknown): Promise<MorpheusError> {
    if (!this.batch) return asError(error)
    return settleBatch(this.batch, 'plant', error)
  }
}

export interface PlannedNode extends NodeRecord {
  user_data: string | null
  files?: Record<string, string>
  details?: Record<string, unknown>
}

export interface PlantPlan {
  dry_run: true
  forest: ForestRecord
  nodes: PlannedNode[]
  /** Route credentials are generated at plant; the plan shows this placeholder instead. */
  route_password: string
  estimate: CostEstimate | null
}

export const PLACEHOLDER_PASSWORD = '********'

/**
 * What a plant would do, doing none of it: the forest and nodes it would claim (against the
 * registry as it is now), and for each node what the provider would create (its user data). Nothing
 * is written and nothing is created; the route password is a placeholder.
 */
export async function planForest(deps: ForestDeps, request: PlantRequest): Promise<PlantPlan> {
  const plant = await Plant.prepare(deps, request)
  const handle = plant.handle
  const doc = await deps.store.read()
  const now = new Date()
  const forest: ForestRecord = {
    created_at: now.toISOString(),
    id: newForestId(doc, now),
    last_expansion: null,
    nats_mode: plant.natsMode,
    node_count: plant.count,
    operation: null,
    ports: deps.settings.ports,
    provider: handle.name,
    size: plant.size,
    status: 'planting',
    ...(handle.capabilities.machineLocal ? {device: deps.device} : {}),
  }
  const nodes = reserveNodes(handle, forest, doc, nextNodeIds([], plant.count), now)
  const auth = deps.secrets ? {password: PLACEHOLDER_PASSWORD, user: 'morpheus-route'} : null
  const planned: PlannedNode[] = []
  for (const node of nodes) {
    const plan = (await handle.provider.plan?.({
      cluster: nodes.length > 1,
      clusterAuth: auth,
      forest,
      natsMode: plant.natsMode,
      systemUser: auth && hasSystemAccount(plant.natsMode) ? {password: PLACEHOLDER_PASSWORD, user: SYSTEM_USER_NAME} : null,
      node,
      // Every other node, as plant's createNode gets them: a provider whose addresses come at
      // plant (Hetzner's Primary IPs) shows placeholders for them, so the peers are in the preview.
      peers: nodes.filter((n) => n.id !== node.id),
      ports: node.ports ?? deps.settings.ports,
    })) ?? {user_data: null}
    planned.push({...node, ...plan})
  }
  return {
    dry_run: true,
    estimate: await plant.estimate(),
    forest,
    nodes: planned,
    route_password: auth
      ? `${PLACEHOLDER_PASSWORD} (generated at plant, kept in the registry's secret storage)`
      : 'none: the registry keeps no secrets',
  }
}
