import type {
  ClientTunnel,
  CostEstimate,
  CreatedNode,
  CreateNodeRequest,
  ForestRecord,
  NatsPorts,
  NodeAddresses,
  NodeRecord,
  NodeReservation,
  NodePlan,
  NodeResources,
  OrphanResource,
  PlanRequest,
  PluginContext,
  PrepareRequest,
  PrepareResult,
  Provider,
  ProviderNode,
  ReplaceNodeRequest,
  ReserveRequest,
} from 'morpheus/plugin-api'

import {ActionWaiter} from './api/actions.js'
import {DEFAULT_ENDPOINT, Hcloud} from './api/client.js'
import {addressesOf, type NodeIps} from './addresses.js'
import {makePlan, type Plan} from './catalog.js'
import {forestSelector, nodeLabels, resourceName} from './labels.js'
import {eachLimit, type Cloud, type Created} from './resources/cloud.js'
import {deleteFirewall, findFirewalls, findOperatorCidrs, refreshFirewall, syncFirewall} from './resources/firewall.js'
import {destroyOrphan, findOrphans} from './resources/orphans.js'
import {createPrimaryIp, deletePrimaryIps, forestPrimaryIps, listForestPrimaryIps, nodePrimaryIps} from './resources/primary-ips.js'
import {estimateCost} from './resources/pricing.js'
import {replaceServer} from './resources/replace.js'
import {createServer, deleteServer, firstChoice, listServers, nodeServers, userData, type ServerRun} from './resources/servers.js'
import {shutDownServer} from './resources/shutdown.js'
import {SshKeys} from './resources/ssh-keys.js'
import {openClientTunnel} from './resources/ssh-tunnel.js'
import {settingsOf, type Settings} from './schema.js'

/**
 * The Hetzner Cloud provider: the Provider contract over one module per cloud resource
 * (resources/: servers, Primary IPs, firewall, SSH keys, pricing, orphans). It keeps what one run
 * learns (the ordering, the operator's networks, each node's Primary IPs, what was unavailable).
 */
export class HetznerProvider implements Provider, Cloud {
  readonly name = 'hetzner'
  readonly settings: Settings
  private hcloud?: Hcloud
  private actionWaiter?: ActionWaiter
  private ordering?: Plan
  private operatorCidrs?: string[]
  private readonly sshKeys = new SshKeys(this)
  /** Primary IPs of each node (forest/node), as prepare() made or found them. */
  private readonly ips = new Map<string, NodeIps>()
  /** (type@location) pairs that answered resource_unavailable or placement_error in this run. */
  private readonly unavailable = new Set<string>()
  /** What this run created, so a failure removes exactly that. */
  readonly created: Created = {firewalls: new Set<number>(), primaryIps: new Set<number>(), servers: new Set<number>()}

  constructor(readonly context: PluginContext) {
    this.settings = settingsOf(context.config)
  }

  /** The API client; throws PREREQUISITE without a token. The token comes from the context's secrets only, and is never printed. */
  get hc(): Hcloud {
    if (this.hcloud) return this.hcloud
    const token = this.context.secrets.hetzner_api_token
    if (!token) {
      throw this.context.error(
        'PREREQUISITE',
        'no Hetzner API token: secrets.hetzner_api_token is not set in the config, and neither HCLOUD_TOKEN nor HETZNER_API_TOKEN is in the environment',
        'Create a Read & Write token in the Hetzner Console (your project > Security > API tokens), export HCLOUD_TOKEN=<token>, and put `hetzner_api_token: ${HCLOUD_TOKEN}` under secrets: in the config.',
      )
    }
    const endpoint = process.env.HCLOUD_ENDPOINT || this.settings.endpoint || DEFAULT_ENDPOINT
    this.hcloud = new Hcloud(this.context, {endpoint, requestTimeoutMs: this.settings.request_timeout_seconds * 1000, token})
    return this.hcloud
  }

  get waiter(): ActionWaiter {
    this.actionWaiter ??= new ActionWaiter(this.hc, this.context, this.settings.poll_interval_seconds * 1000)
    return this.actionWaiter
  }

  /** API requests made so far by this provider instance. */
  get requests(): number {
    return this.hcloud?.requests ?? 0
  }

  async preflight(signal: AbortSignal): Promise<void> {
    this.ordering = await makePlan(this.hc, this.context, this.settings, signal)
    this.operatorCidrs = await findOperatorCidrs(this, signal)
  }

  private async ensurePlan(signal: AbortSignal): Promise<Plan> {
    if (!this.ordering) await this.preflight(signal)
    return this.ordering!
  }

  /** The operator's networks: found by preflight, or at first need (a teardown or grow that skipped it). */
  private readonly operator = async (signal: AbortSignal): Promise<string[]> => {
    this.operatorCidrs ??= await findOperatorCidrs(this, signal)
    return this.operatorCidrs
  }

  reserve(request: ReserveRequest): NodeReservation[] {
    return request.ids.map((id) => ({id, ip: ''}))
  }

  /** SSH key, Primary IPs (every address known before any server), then the forest firewall. */
  async prepare(request: PrepareRequest): Promise<PrepareResult> {
    const {forest, signal} = request
    const plan = await this.ensurePlan(signal)
    await this.sshKeys.ensure(signal)
    const location = firstChoice(plan, this.unavailable).location
    const madeHere: number[] = []
    try {
      const known = await forestPrimaryIps(this, forest.id, signal)
      const missing: Array<{node: NodeRecord; type: 'ipv4' | 'ipv6'}> = []
      for (const node of request.nodes) {
        const ips = known.get(node.id) ?? {}
        this.ips.set(this.key(forest.id, node.id), ips)
        if (!ips.v6) missing.push({node, type: 'ipv6'})
        if (this.settings.ipv4 && !ips.v4) missing.push({node, type: 'ipv4'})
      }
      if (missing.length > 0) request.progress(`allocating ${missing.length} Primary IP${missing.length === 1 ? '' : 's'} in ${location}`)
      await eachLimit(this, missing, this.settings.parallel, async ({node, type}) => {
        const ip = await createPrimaryIp(this, forest, node, type, location, signal)
        madeHere.push(ip.id)
        const ips = this.ips.get(this.key(forest.id, node.id))!
        if (type === 'ipv6') ips.v6 = ip
        else ips.v4 = ip
      })
      const addresses: Record<string, NodeAddresses> = {}
      for (const node of request.nodes)
        addresses[node.id] = addressesOf(this.ips.get(this.key(forest.id, node.id))!, this.settings.route_via)
      const all = [...request.existing.flatMap((n) => [n.ipv4, n.ipv6]), ...Object.values(addresses).flatMap((a) => [a.ipv4, a.ipv6])]
      request.progress('setting up the forest firewall')
      await syncFirewall(
        this,
        forest,
        all.filter((a): a is string => Boolean(a)),
        this.operator,
        signal,
      )
      return {addresses}
    } catch (error) {
      await deletePrimaryIps(this, madeHere)
      throw error
    }
  }

  private key(forestId: string, nodeId: string): string {
    return `${forestId}/${nodeId}`
  }

  async createNode(request: CreateNodeRequest): Promise<CreatedNode> {
    const {forest, signal} = request
    const plan = await this.ensurePlan(signal)
    await this.sshKeys.ensure(signal)
    const key = this.key(forest.id, request.node.id)
    let ips: NodeIps = this.ips.get(key) ?? {}
    if (!ips.v6) {
      ips = (await forestPrimaryIps(this, forest.id, signal)).get(request.node.id) ?? {}
      this.ips.set(key, ips)
    }
    return createServer(this, {...this.serverSetup(forest, plan), ips, ipsMoved: (moved) => this.ips.set(key, moved)}, request)
  }

  /** What creating a node's server needs beyond the request: shared by a new node and a replaced one. */
  private serverSetup(forest: ForestRecord, plan: Plan): Omit<ServerRun, 'ips' | 'ipsMoved'> {
    return {
      plan,
      refreshFirewall: (sig) => refreshFirewall(this, forest, this.operator, sig),
      sshKeyNames: this.sshKeys.names,
      unavailable: this.unavailable,
      userData: (r, node) => this.userData(r, node),
    }
  }

  /** JetStream administration (grow from one node, shrink, upgrade): the node's client port over SSH (resources/ssh-tunnel.ts). */
  // Absent with client_access: direct (the core then connects to the node's client URL itself).
  get clientTunnel(): ((node: NodeRecord, ports: NatsPorts, signal: AbortSignal) => Promise<ClientTunnel>) | undefined {
    if (this.settings.client_access === 'direct') return undefined
    return (node, ports, signal) => openClientTunnel(this.context, this.settings, node, ports, signal)
  }

  /** repair and upgrade: a new server for the node, with its name, labels and Primary IPs (resources/replace.ts). */
  async replaceNode(request: ReplaceNodeRequest): Promise<CreatedNode> {
    const plan = await this.ensurePlan(request.signal)
    await this.sshKeys.ensure(request.signal)
    const {forest} = request
    const made = await replaceServer(this, {...this.serverSetup(forest, plan), ipsMoved: () => undefined}, request)
    this.ips.delete(this.key(forest.id, request.node.id))
    return made
  }

  /** upgrade: a nats-server release as given (the node downloads it), a NimsForest build as an http(s) URL. */
  async resolveVersions(request: {
    natsMode: 'system' | 'embedded'
    wanted: {nats?: string; nimsforest?: string}
  }): Promise<{nats?: string; nimsforest?: string}> {
    const {wanted} = request
    if (wanted.nats && !/^\d+\.\d+\.\d+(-[A-Za-z0-9.]+)?$/.test(wanted.nats))
      throw this.context.error(
        'PREREQUISITE',
        `"${wanted.nats}" is not a nats-server release (like 2.11.4)`,
        'Name a release of https://github.com/nats-io/nats-server/releases.',
      )
    if (wanted.nimsforest && !/^https?:\/\/\S+$/.test(wanted.nimsforest))
      throw this.context.error(
        'PREREQUISITE',
        `a NimsForest build for cloud nodes is a download URL, not "${wanted.nimsforest}"`,
        'e.g. https://nimsforest.io/bin/nimsforest-1.4.0 ({arch} becomes amd64 or arm64 on the node).',
      )
    return {...wanted}
  }

  /** For plant --dry-run: the user data and server createNode would send; nothing is created (no API call). */
  async plan(request: PlanRequest): Promise<NodePlan> {
    const choice = this.ordering ? firstChoice(this.ordering, this.unavailable) : undefined
    // Addresses come from Primary IPs allocated at plant; a dry run shows documentation addresses in their place.
    const placeholder = (n: NodeRecord): NodeRecord => {
      if (n.ip) return n
      const k = Number(/(\d+)$/.exec(n.id)?.[1] ?? 1) % 250 || 1
      const ipv4 = this.settings.ipv4 ? `192.0.2.${k}` : undefined
      const ipv6 = `2001:db8::${k.toString(16)}`
      return {
        ...n,
        ip: this.settings.route_via === 'ipv4' && ipv4 ? ipv4 : ipv6,
        ipv6,
        ...(ipv4 ? {ipv4, probe_address: ipv4} : {probe_address: ipv6}),
      }
    }
    const node = placeholder(request.node)
    const keys = await this.sshKeys.planned()
    const userData = this.userData({...request, node, peers: request.peers.map(placeholder)}, node, keys)
    return {
      details: {
        image: this.settings.image,
        ipv4: this.settings.ipv4,
        labels: nodeLabels(request.forest.id, request.node.id, request.node.role || 'edge'),
        location: choice?.location ?? this.settings.location,
        name: resourceName(request.forest.id, request.node.id),
        server_type: choice?.type.name ?? this.settings.server_type,
        ...(request.node.ip
          ? {}
          : {addresses: 'placeholders (192.0.2.0/24, 2001:db8::/32): the real ones are Primary IPs allocated at plant'}),
      },
      user_data: userData,
    }
  }

  private userData(request: PlanRequest, node: NodeRecord, sshKeys: string[] = this.sshKeys.publicKeys): string {
    return userData(this, request, node, sshKeys, this.operatorCidrs ?? this.settings.operator_cidrs)
  }

  /**
   * shrink: stop the node's NATS gracefully, keeping the server: a shutdown (ACPI), so systemd stops
   * nats.service with its KillSignal (SIGUSR2: lame duck mode), waited for until the server is off,
   * at most shutdown_timeout_seconds (then powered off). A server already off, or gone, is fine.
   */
  async stopNode(node: NodeRecord, forest: ForestRecord, signal: AbortSignal): Promise<void> {
    const servers = new Map<number, {id: number; name: string}>()
    for (const s of await nodeServers(this, forest.id, node.id, signal)) servers.set(s.id, s)
    const ref = Number(node.provider_ref)
    if (servers.size === 0 && Number.isInteger(ref) && ref > 0) servers.set(ref, {id: ref, name: resourceName(forest.id, node.id)})
    for (const server of servers.values()) {
      const how = await shutDownServer(this, server, {limitMs: this.settings.shutdown_timeout_seconds * 1000, signal})
      this.context.log.debug(`${node.id}: server ${server.name} (${server.id}) ${how.replace('_', ' ')}`)
    }
  }

  async destroyNode(node: NodeRecord, forest: ForestRecord, signal: AbortSignal): Promise<void> {
    const ids = new Set<number>()
    const ref = Number(node.provider_ref)
    if (Number.isInteger(ref) && ref > 0) ids.add(ref)
    for (const s of await nodeServers(this, forest.id, node.id, signal)) ids.add(s.id)
    await Promise.all([...ids].map((id) => deleteServer(this, id, signal)))
    const left = await nodePrimaryIps(this, forest.id, node.id, signal)
    await deletePrimaryIps(
      this,
      left.map((p) => p.id),
    )
    this.ips.delete(this.key(forest.id, node.id))
    // A node leaving a live forest leaves the firewall too; teardown removes the whole firewall instead.
    if (forest.status !== 'tearing_down') await refreshFirewall(this, forest, this.operator, signal)
  }

  async listNodes(forestId: string, signal: AbortSignal): Promise<ProviderNode[]> {
    const servers = await listServers(this, forestSelector(forestId), signal)
    return servers.map((s) => ({
      forest_id: forestId,
      id: s.labels?.node ?? s.name,
      provider_ref: String(s.id),
      running: s.status === 'running',
    }))
  }

  /** Every server with the forest's label (known to the registry or not), then the firewall, then the Primary IPs. */
  async destroyForest(forest: ForestRecord, signal: AbortSignal): Promise<void> {
    const servers = await listServers(this, forestSelector(forest.id), signal)
    await Promise.all(servers.map((s) => deleteServer(this, s.id, signal)))
    for (const fw of await findFirewalls(this, forest.id, signal)) await deleteFirewall(this, fw.id, signal, fw)
    const ips = await listForestPrimaryIps(this, forest.id, signal)
    await deletePrimaryIps(
      this,
      ips.map((p) => p.id),
    )
  }

  /** Monthly price of one node (server type in its location, plus its Primary IPs), from /pricing. */
  async resources(_node: NodeRecord, signal: AbortSignal): Promise<NodeResources> {
    const plan = await this.ensurePlan(signal)
    const {per_node: perNode} = await this.estimate({count: 1, signal})
    return {memory_bytes: Math.round(firstChoice(plan, this.unavailable).type.memory * 1024 ** 3), monthly_price: perNode}
  }

  /**
   * What `count` nodes cost a month, gross, from /pricing: the first server type and location the
   * plan would order (fallbacks may cost more or less, which plant says when it falls back).
   */
  async estimate(request: {count: number; signal: AbortSignal}): Promise<CostEstimate> {
    const plan = await this.ensurePlan(request.signal)
    return estimateCost(this, firstChoice(plan, this.unavailable), request.count, request.signal)
  }

  orphans(knownForests: readonly string[], signal: AbortSignal): Promise<OrphanResource[]> {
    return findOrphans(this, knownForests, signal)
  }

  destroyOrphan(orphan: OrphanResource, signal: AbortSignal): Promise<void> {
    return destroyOrphan(this, orphan, signal)
  }
}

export function createHetznerProvider(context: PluginContext): Provider {
  return new HetznerProvider(context)
}
