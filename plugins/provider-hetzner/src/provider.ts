import {readFileSync} from 'node:fs'

import type {
  CostEstimate,
  CreatedNode,
  CreateNodeRequest,
  ForestRecord,
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
  ReserveRequest,
} from 'morpheus/plugin-api'

import {ActionWaiter} from './api/actions.js'
import {DEFAULT_ENDPOINT, Hcloud} from './api/client.js'
import {isHetznerError} from './api/errors.js'
import type {Action, Firewall, PrimaryIp, Server} from './api/types.js'
import {addressesOf, hostCidr, type NodeIps} from './addresses.js'
import {makePlan, type Choice, type Plan} from './catalog.js'
import {firewallRules, sameRules} from './firewall.js'
import {forestLabels, forestSelector, managedSelector, nodeLabels, nodeSelector, resourceName} from './labels.js'
import {settingsOf, type Settings} from './schema.js'
import {fingerprint} from './ssh.js'

const USER_DATA_LIMIT = 32 * 1024
/** Clean-up runs on its own clock: it must finish even after Ctrl-C aborted the command's signal. */
const CLEANUP_MS = 180_000
/** Tries to empty and delete a firewall that is applied again while it is being deleted. */
const FIREWALL_ROUNDS = 4

/** Run fn over items, at most `limit` at once; the first error is thrown after all have settled. */
async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  let first: {error: unknown} | undefined
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]
      try {
        await fn(item)
      } catch (error) {
        first ??= {error}
      }
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(limit, items.length))}, worker))
  if (first) throw first.error
}

function isCode(error: unknown, ...codes: string[]): boolean {
  return isHetznerError(error) && codes.includes(error.hcloudCode)
}

export class HetznerProvider implements Provider {
  readonly name = 'hetzner'
  readonly settings: Settings
  private hcloud?: Hcloud
  private actionWaiter?: ActionWaiter
  private ordering?: Plan
  private operatorCidrs?: string[]
  private sshKeyNames: string[] = []
  private sshPublicKeys: string[] = []
  private sshReady = false
  private plannedKeys?: Promise<string[]>
  /** Primary IPs of each node (forest/node), as prepare() made or found them. */
  private readonly ips = new Map<string, NodeIps>()
  /** (type@location) pairs that answered resource_unavailable or placement_error in this run. */
  private readonly unavailable = new Set<string>()
  /** What this run created, so a failure removes exactly that. */
  readonly created = {firewalls: new Set<number>(), primaryIps: new Set<number>(), servers: new Set<number>()}

  constructor(private readonly context: PluginContext) {
    this.settings = settingsOf(context.config)
  }

  /** The API client; throws PREREQUISITE without a token. The token is never printed. */
  get hc(): Hcloud {
    if (this.hcloud) return this.hcloud
    const token = this.context.secrets.hetzner_api_token || process.env.HCLOUD_TOKEN || process.env.HETZNER_API_TOKEN
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
    this.operatorCidrs = await this.findOperatorCidrs(signal)
  }

  private async ensurePlan(signal: AbortSignal): Promise<Plan> {
    if (!this.ordering) await this.preflight(signal)
    return this.ordering!
  }

  private async findOperatorCidrs(signal: AbortSignal): Promise<string[]> {
    if (this.settings.operator_cidrs.length > 0) return this.settings.operator_cidrs
    const url = this.settings.public_address_url
    const hint = "Set the networks allowed to reach monitoring: `morpheus config set providers.hetzner.operator_cidrs '[203.0.113.7/32]'` (your public address)."
    if (!url) throw this.context.error('PREREQUISITE', 'providers.hetzner.operator_cidrs is empty and public_address_url is not set, so the firewall would shut the operator out', hint)
    try {
      const response = await fetch(url, {signal: AbortSignal.any([signal, AbortSignal.timeout(5000)])})
      const text = (await response.text()).trim()
      if (!response.ok || !/^[0-9a-f:.]+$/i.test(text)) throw new Error(`answer ${response.status}`)
      this.context.log.info(`the firewall lets this machine's public address ${text} reach monitoring and SSH (providers.hetzner.operator_cidrs overrides)`)
      return [hostCidr(text)]
    } catch (error) {
      if (signal.aborted) throw error
      throw this.context.error('PREREQUISITE', `could not find out this machine's public address from ${url} (${(error as Error).message})`, hint)
    }
  }

  reserve(request: ReserveRequest): NodeReservation[] {
    return request.ids.map((id) => ({id, ip: ''}))
  }

  // ---------------------------------------------------------------------------
  // prepare: SSH key, Primary IPs (every address known before any server), firewall
  // ---------------------------------------------------------------------------
  async prepare(request: PrepareRequest): Promise<PrepareResult> {
    const {forest, signal} = request
    const plan = await this.ensurePlan(signal)
    await this.ensureSshKey(signal)
    const location = this.firstChoice(plan).location
    const madeHere: number[] = []
    try {
      const known = await this.forestPrimaryIps(forest.id, signal)
      const missing: Array<{node: NodeRecord; type: 'ipv4' | 'ipv6'}> = []
      for (const node of request.nodes) {
        const ips = known.get(node.id) ?? {}
        this.ips.set(this.key(forest.id, node.id), ips)
        if (!ips.v6) missing.push({node, type: 'ipv6'})
        if (this.settings.ipv4 && !ips.v4) missing.push({node, type: 'ipv4'})
      }
      if (missing.length > 0) request.progress(`allocating ${missing.length} Primary IP${missing.length === 1 ? '' : 's'} in ${location}`)
      await eachLimit(missing, this.settings.parallel, async ({node, type}) => {
        const ip = await this.createPrimaryIp(forest, node, type, location, signal)
        madeHere.push(ip.id)
        const ips = this.ips.get(this.key(forest.id, node.id))!
        if (type === 'ipv6') ips.v6 = ip
        else ips.v4 = ip
      })
      const addresses: Record<string, NodeAddresses> = {}
      for (const node of request.nodes) addresses[node.id] = addressesOf(this.ips.get(this.key(forest.id, node.id))!, this.settings.route_via)
      const all = [...request.existing.flatMap((n) => [n.ipv4, n.ipv6]), ...Object.values(addresses).flatMap((a) => [a.ipv4, a.ipv6])]
      request.progress('setting up the forest firewall')
      await this.syncFirewall(forest, all.filter((a): a is string => Boolean(a)), signal)
      return {addresses}
    } catch (error) {
      await this.deletePrimaryIps(madeHere)
      throw error
    }
  }

  private key(forestId: string, nodeId: string): string {
    return `${forestId}/${nodeId}`
  }

  private firstChoice(plan: Plan): Choice {
    return plan.choices.find((c) => !this.unavailable.has(`${c.type.name}@${c.location}`)) ?? plan.choices[0]
  }

  private async forestPrimaryIps(forestId: string, signal: AbortSignal): Promise<Map<string, NodeIps>> {
    const list = await this.hc.all(
      'GET /primary_ips',
      (api, page, sig) => api.GET('/primary_ips', {params: {query: {label_selector: forestSelector(forestId), page, per_page: 50}}, signal: sig}),
      (d) => d.primary_ips,
      signal,
    )
    const out = new Map<string, NodeIps>()
    for (const ip of list) {
      const node = ip.labels?.node
      if (!node) continue
      const ips = out.get(node) ?? {}
      if (ip.type === 'ipv6') ips.v6 = ip
      else ips.v4 = ip
      out.set(node, ips)
    }
    return out
  }

  private async createPrimaryIp(forest: ForestRecord, node: NodeRecord, type: 'ipv4' | 'ipv6', location: string, signal: AbortSignal): Promise<PrimaryIp> {
    const body = {
      assignee_type: 'server' as const,
      auto_delete: true,
      labels: nodeLabels(forest.id, node.id, node.role || 'edge'),
      location,
      name: resourceName(forest.id, node.id, type === 'ipv6' ? 'v6' : 'v4'),
      type,
    }
    const created = await this.hc.call('POST /primary_ips', (api, sig) => api.POST('/primary_ips', {body, signal: sig}), signal)
    this.created.primaryIps.add(created.primary_ip.id)
    if (created.action) await this.waiter.wait(created.action, `Primary IP ${body.name}`, 60_000, signal)
    return created.primary_ip
  }

  private async deletePrimaryIps(ids: readonly number[]): Promise<void> {
    const signal = AbortSignal.timeout(CLEANUP_MS)
    await eachLimit(ids, this.settings.parallel, async (id) => {
      try {
        await this.hc.call(`DELETE /primary_ips/${id}`, (api, sig) => api.DELETE('/primary_ips/{id}', {params: {path: {id}}, signal: sig}), signal, {persistent: true})
      } catch (error) {
        if (!isCode(error, 'not_found')) throw error
      }
      this.created.primaryIps.delete(id)
    })
  }

  private async ensureSshKey(signal: AbortSignal): Promise<void> {
    if (this.sshReady) return
    const s = this.settings
    if (s.ssh_key) {
      const found = await this.hc.call('GET /ssh_keys', (api, sig) => api.GET('/ssh_keys', {params: {query: {name: s.ssh_key}}, signal: sig}), signal)
      const key = found.ssh_keys.find((k) => k.name === s.ssh_key)
      if (!key) throw this.context.error('FAILED', `no SSH key named "${s.ssh_key}" in the Hetzner project`, 'Upload it in the Hetzner Console (Security > SSH keys), or set providers.hetzner.ssh_public_key_path to a public key file to upload.')
      this.sshKeyNames.push(key.name)
      this.sshPublicKeys.push(key.public_key)
    }
    if (s.ssh_public_key_path) {
      const path = this.context.resolvePath(s.ssh_public_key_path)
      let publicKey: string
      let fp: string
      try {
        publicKey = readFileSync(path, 'utf8').trim()
        fp = fingerprint(publicKey)
      } catch (error) {
        throw this.context.error('PREREQUISITE', `cannot use the SSH public key ${path}: ${(error as Error).message}`, 'Point providers.hetzner.ssh_public_key_path at a .pub file (ssh-keygen -t ed25519 makes one).')
      }
      const found = await this.hc.call('GET /ssh_keys', (api, sig) => api.GET('/ssh_keys', {params: {query: {fingerprint: fp}}, signal: sig}), signal)
      let key = found.ssh_keys.find((k) => k.fingerprint === fp)
      if (!key) {
        const name = resourceName('morpheus', fp.replace(/:/g, '').slice(0, 12))
        const made = await this.hc.call('POST /ssh_keys', (api, sig) => api.POST('/ssh_keys', {body: {labels: {'managed-by': 'morpheus'}, name, public_key: publicKey}, signal: sig}), signal)
        key = made.ssh_key
        this.context.log.info(`uploaded the SSH key ${path} to the Hetzner project as "${name}"`)
      }
      if (!this.sshKeyNames.includes(key.name)) this.sshKeyNames.push(key.name)
      if (!this.sshPublicKeys.includes(key.public_key)) this.sshPublicKeys.push(key.public_key)
    }
    this.sshReady = true
  }

  // ---------------------------------------------------------------------------
  // The forest's firewall
  // ---------------------------------------------------------------------------
  private async findFirewalls(forestId: string, signal: AbortSignal): Promise<Firewall[]> {
    return this.hc.all(
      'GET /firewalls',
      (api, page, sig) => api.GET('/firewalls', {params: {query: {label_selector: forestSelector(forestId), page, per_page: 50}}, signal: sig}),
      (d) => d.firewalls,
      signal,
    )
  }

  /** Create the forest's firewall, or give it the rules these node addresses need. */
  private async syncFirewall(forest: ForestRecord, nodeAddresses: readonly string[], signal: AbortSignal): Promise<void> {
    const operator = this.operatorCidrs ?? (await this.findOperatorCidrs(signal))
    this.operatorCidrs = operator
    const ssh = this.settings.ssh_cidrs.length > 0 ? this.settings.ssh_cidrs : operator
    const rules = firewallRules(nodeAddresses.map(hostCidr), operator, ssh, this.context.ports)
    const [existing] = await this.findFirewalls(forest.id, signal)
    if (existing) {
      if (sameRules(existing.rules, rules)) return
      await this.hc.call(`POST /firewalls/${existing.id}/actions/set_rules`, (api, sig) => api.POST('/firewalls/{id}/actions/set_rules', {body: {rules}, params: {path: {id: existing.id}}, signal: sig}), signal)
      return
    }
    const selector = forestSelector(forest.id)
    const made = await this.hc.call(
      'POST /firewalls',
      (api, sig) => api.POST('/firewalls', {body: {apply_to: [{label_selector: {selector}, type: 'label_selector'}], labels: forestLabels(forest.id), name: resourceName('morpheus', forest.id), rules}, signal: sig}),
      signal,
    )
    if (made.firewall) this.created.firewalls.add(made.firewall.id)
  }

  /** Rules again from the forest's Primary IPs (after a node came or went). */
  private async refreshFirewall(forest: ForestRecord, signal: AbortSignal): Promise<void> {
    const known = await this.forestPrimaryIps(forest.id, signal)
    const addresses = [...known.values()].flatMap((ips) => [ips.v4?.ip, ips.v6 ? addressesOf({v6: ips.v6}, 'ipv6').ipv6 : undefined]).filter((a): a is string => Boolean(a))
    if (addresses.length === 0) return
    await this.syncFirewall(forest, addresses, signal)
  }

  // ---------------------------------------------------------------------------
  // Nodes
  // ---------------------------------------------------------------------------
  async createNode(request: CreateNodeRequest): Promise<CreatedNode> {
    const {forest, signal} = request
    const plan = await this.ensurePlan(signal)
    await this.ensureSshKey(signal)
    const key = this.key(forest.id, request.node.id)
    let ips: NodeIps = this.ips.get(key) ?? {}
    if (!ips.v6) {
      ips = (await this.forestPrimaryIps(forest.id, signal)).get(request.node.id) ?? {}
      this.ips.set(key, ips)
    }
    let node: NodeRecord = {...request.node, ...addressesOf(ips, this.settings.route_via)}
    const name = resourceName(forest.id, node.id)
    let server: Server | undefined
    let actions: Action[] = []
    let choice: Choice | undefined
    let attempted = false
    try {
      for (;;) {
        choice = plan.choices.find((c) => !this.unavailable.has(`${c.type.name}@${c.location}`))
        if (!choice) {
          throw this.context.error('FAILED', `${node.id}: no configured server type can be placed in any configured location right now (tried ${[...this.unavailable].join(', ')})`, 'Add fallbacks (providers.hetzner.locations, server_types) or try again later.')
        }
        const location = ips.v6?.location?.name
        if (location && location !== choice.location) {
          ips = await this.moveIps(forest, node, ips, choice.location, signal)
          node = {...node, ...addressesOf(ips, this.settings.route_via)}
          request.addressesKnown(addressesOf(ips, this.settings.route_via))
        }
        const userData = this.userData(request, node)
        try {
          request.progress(`creating server ${name} (${choice.type.name} in ${choice.location})`)
          attempted = true
          const made = await this.hc.call(
            'POST /servers',
            (api, sig) =>
              api.POST('/servers', {
                body: {
                  image: plan.image.name ?? String(plan.image.id),
                  labels: nodeLabels(forest.id, node.id, node.role || 'edge'),
                  location: choice!.location,
                  name,
                  public_net: {enable_ipv4: this.settings.ipv4, enable_ipv6: true, ...(ips.v6 ? {ipv6: ips.v6.id} : {}), ...(this.settings.ipv4 && ips.v4 ? {ipv4: ips.v4.id} : {})},
                  server_type: choice!.type.name,
                  ssh_keys: this.sshKeyNames,
                  start_after_create: true,
                  user_data: userData,
                },
                signal: sig,
              }),
            signal,
          )
          server = made.server
          actions = [made.action, ...(made.next_actions ?? [])]
        } catch (error) {
          if (isCode(error, 'resource_unavailable', 'placement_error')) {
            this.unavailable.add(`${choice.type.name}@${choice.location}`)
            const next = plan.choices.find((c) => !this.unavailable.has(`${c.type.name}@${c.location}`))
            this.context.log.warn(`${node.id}: ${choice.type.name} in ${choice.location} is not available (${(error as {hcloudCode: string}).hcloudCode})${next ? `; trying ${next.type.name} in ${next.location}` : ''}`)
            continue
          }
          if (isCode(error, 'uniqueness_error')) {
            server = await this.adopt(name, forest.id, node.id, signal)
            if (server) break
            throw this.context.error('FAILED', `${node.id}: a server named "${name}" already exists in the Hetzner project and does not belong to this node`, `Rename or delete that server in the Hetzner Console; Morpheus leaves servers it did not make alone.`)
          }
          throw error
        }
        break
      }
      this.created.servers.add(server.id)
      const addresses: NodeAddresses = {...addressesOf(ips, this.settings.route_via), provider_ref: String(server.id)}
      request.addressesKnown(addresses)
      request.progress(`server ${name} (${server.id}) is being created; waiting for it to start`)
      const timeoutMs = this.settings.boot_timeout_seconds * 1000
      const started = Date.now()
      await Promise.all(actions.map((a) => this.waiter.wait(a, `server ${name}: ${a.command}`, timeoutMs, signal)))
      await this.waitMonitoring(node.id, addresses, request.ports.monitor, Math.max(1000, timeoutMs - (Date.now() - started)), signal, request.progress)
      return {...addresses, memory_bytes: Math.round((choice?.type.memory ?? 0) * 1024 ** 3)}
    } catch (error) {
      await this.removeFailedNode(forest, node, server, ips, attempted)
      throw error
    }
  }

  /** The server runs; its NATS answers once cloud-init has started it. Probed from the operator's side, as the core does. */
  private async waitMonitoring(nodeId: string, addresses: NodeAddresses, port: number, timeoutMs: number, signal: AbortSignal, progress: (m: string) => void): Promise<void> {
    const host = addresses.probe_address ?? addresses.ip
    if (!host) return
    const url = `http://${this.context.helpers.hostPort(host, port)}/varz`
    progress(`server started; waiting for NATS at ${url}`)
    try {
      await this.context.helpers.pollUntil(
        async () => {
          try {
            const response = await fetch(url, {signal: AbortSignal.any([signal, AbortSignal.timeout(2000)])})
            await response.body?.cancel()
            return response.ok ? true : undefined
          } catch {
            signal.throwIfAborted()
            return undefined
          }
        },
        // A quarter second between looks (one local HTTP request, not an API call): the last of ten nodes is not
        // found up to a second late, which a one-node plant would not pay.
        {intervalMs: Math.min(250, this.settings.poll_interval_seconds * 1000), signal, timeoutMs, what: `${nodeId}: NATS monitoring at ${url}`},
      )
    } catch (error) {
      if (signal.aborted) throw error
      throw this.context.error(
        'FAILED',
        `${nodeId}: the server runs, but NATS did not answer at ${url} within ${Math.round(timeoutMs / 1000)}s`,
        'Check that this machine is allowed by providers.hetzner.operator_cidrs, and the node\'s /var/log/cloud-init-output.log (ssh root@<address>).',
        {cause: error},
      )
    }
  }

  /** A server made by an earlier try of the same create (a timeout retried) or an earlier run: ours when its labels say so. */
  private async adopt(name: string, forestId: string, nodeId: string, signal: AbortSignal): Promise<Server | undefined> {
    const found = await this.hc.call('GET /servers', (api, sig) => api.GET('/servers', {params: {query: {name}}, signal: sig}), signal)
    const server = found.servers.find((s) => s.name === name && s.labels?.forest === forestId && s.labels?.node === nodeId)
    if (server) this.context.log.warn(`${nodeId}: server ${name} exists already (an earlier try made it); using it`)
    return server
  }

  /** For plant --dry-run: the user data and server createNode would send; nothing is created (no API call). */
  async plan(request: PlanRequest): Promise<NodePlan> {
    const choice = this.ordering ? this.firstChoice(this.ordering) : undefined
    // Addresses come from Primary IPs allocated at plant; a dry run shows documentation addresses in their place.
    const placeholder = (n: NodeRecord): NodeRecord => {
      if (n.ip) return n
      const k = Number(/(\d+)$/.exec(n.id)?.[1] ?? 1) % 250 || 1
      const ipv4 = this.settings.ipv4 ? `192.0.2.${k}` : undefined
      const ipv6 = `2001:db8::${k.toString(16)}`
      return {...n, ip: this.settings.route_via === 'ipv4' && ipv4 ? ipv4 : ipv6, ipv6, ...(ipv4 ? {ipv4, probe_address: ipv4} : {probe_address: ipv6})}
    }
    const node = placeholder(request.node)
    const keys = this.sshReady ? this.sshPublicKeys : await (this.plannedKeys ??= this.plannedSshKeys())
    const userData = this.userData({...request, node, peers: request.peers.map(placeholder)}, node, keys)
    return {
      details: {
        image: this.settings.image,
        ipv4: this.settings.ipv4,
        labels: nodeLabels(request.forest.id, request.node.id, request.node.role || 'edge'),
        location: choice?.location ?? this.settings.location,
        name: resourceName(request.forest.id, request.node.id),
        server_type: choice?.type.name ?? this.settings.server_type,
        ...(request.node.ip ? {} : {addresses: 'placeholders (192.0.2.0/24, 2001:db8::/32): the real ones are Primary IPs allocated at plant'}),
      },
      user_data: userData,
    }
  }

  /** The SSH keys createNode would put on the nodes, found without creating anything (a dry run uploads no key). */
  private async plannedSshKeys(): Promise<string[]> {
    const s = this.settings
    const keys: string[] = []
    if (s.ssh_key) {
      const signal = AbortSignal.timeout(s.request_timeout_seconds * 1000)
      const found = await this.hc.call('GET /ssh_keys', (api, sig) => api.GET('/ssh_keys', {params: {query: {name: s.ssh_key}}, signal: sig}), signal)
      const key = found.ssh_keys.find((k) => k.name === s.ssh_key)
      if (!key) throw this.context.error('FAILED', `no SSH key named "${s.ssh_key}" in the Hetzner project`, 'Upload it in the Hetzner Console (Security > SSH keys), or set providers.hetzner.ssh_public_key_path to a public key file to upload.')
      keys.push(key.public_key)
    }
    if (s.ssh_public_key_path) {
      const path = this.context.resolvePath(s.ssh_public_key_path)
      try {
        const publicKey = readFileSync(path, 'utf8').trim()
        fingerprint(publicKey)
        if (!keys.includes(publicKey)) keys.push(publicKey)
      } catch (error) {
        throw this.context.error('PREREQUISITE', `cannot use the SSH public key ${path}: ${(error as Error).message}`, 'Point providers.hetzner.ssh_public_key_path at a .pub file (ssh-keygen -t ed25519 makes one).')
      }
    }
    return keys
  }

  private userData(request: PlanRequest, node: NodeRecord, sshKeys: string[] = this.sshPublicKeys): string {
    const text = this.context.templates.userData({
      cluster: request.cluster,
      clusterAuth: request.clusterAuth,
      forest: request.forest,
      ipv4: this.settings.ipv4,
      natsMode: request.natsMode,
      node,
      operatorCidrs: this.operatorCidrs ?? this.settings.operator_cidrs,
      peers: request.peers,
      ports: request.ports,
      sshKeys,
    })
    const size = Buffer.byteLength(text, 'utf8')
    if (size > USER_DATA_LIMIT) {
      throw this.context.error('FAILED', `${node.id}: the user data is ${size} bytes; Hetzner accepts at most ${USER_DATA_LIMIT}`, 'Shorten your templates (templates.dir) or move large files to a download.')
    }
    return text
  }

  /** The location changed (fallback): the node's Primary IPs must be in the new one. */
  private async moveIps(forest: ForestRecord, node: NodeRecord, ips: NodeIps, location: string, signal: AbortSignal): Promise<NodeIps> {
    await this.deletePrimaryIps([ips.v6?.id, ips.v4?.id].filter((id): id is number => id !== undefined))
    const moved: NodeIps = {v6: await this.createPrimaryIp(forest, node, 'ipv6', location, signal)}
    if (this.settings.ipv4) moved.v4 = await this.createPrimaryIp(forest, node, 'ipv4', location, signal)
    this.ips.set(this.key(forest.id, node.id), moved)
    await this.refreshFirewall(forest, signal)
    return moved
  }

  /** After a failed or interrupted create: remove the server (if made) and the node's Primary IPs. */
  private async removeFailedNode(forest: ForestRecord, node: NodeRecord, server: Server | undefined, ips: NodeIps, attempted: boolean): Promise<void> {
    const signal = AbortSignal.timeout(CLEANUP_MS)
    try {
      // A create interrupted in flight may have made the server without telling us its id: find it by its labels.
      const ids = new Set(server ? [server.id] : [])
      if (attempted) {
        const found = await this.hc.call('GET /servers', (api, sig) => api.GET('/servers', {params: {query: {label_selector: nodeSelector(forest.id, node.id)}}, signal: sig}), signal, {persistent: true})
        for (const s of found.servers) ids.add(s.id)
      }
      for (const id of ids) {
        this.context.log.warn(`${node.id}: removing server ${id}, which did not come up`)
        await this.deleteServer(id, signal)
      }
      const left = await this.hc.call('GET /primary_ips', (api, sig) => api.GET('/primary_ips', {params: {query: {label_selector: nodeSelector(forest.id, node.id)}}, signal: sig}), signal, {persistent: true})
      await this.deletePrimaryIps([...new Set([...left.primary_ips.map((p) => p.id), ...[ips.v6?.id, ips.v4?.id].filter((id): id is number => id !== undefined)])])
    } catch (error) {
      this.context.log.warn(`${node.id}: could not remove everything this run made for it (${(error as Error).message}); \`morpheus teardown ${forest.id}\` removes the rest`)
    }
  }

  private async deleteServer(id: number, signal: AbortSignal): Promise<void> {
    let action: Action | undefined
    try {
      const result = await this.hc.call(`DELETE /servers/${id}`, (api, sig) => api.DELETE('/servers/{id}', {params: {path: {id}}, signal: sig}), signal, {persistent: true})
      action = result.action
    } catch (error) {
      if (isCode(error, 'not_found')) {
        this.created.servers.delete(id)
        return
      }
      throw error
    }
    if (action) await this.waiter.wait(action, `deleting server ${id}`, 120_000, signal)
    this.created.servers.delete(id)
  }

  /**
   * Delete a firewall. One applied through a label selector cannot be deleted while the selector is in its
   * applied_to (422 resource_in_use), even with no server left, so every entry is removed first
   * (remove_from_resources with the selector as it is, never the servers it reaches: that is
   * firewall_managed_by_label_selector), its action waited for, then the firewall deleted. Converges on a
   * re-run: a firewall already gone (404), or whose entries are already gone, is fine; one applied again
   * meanwhile is read and emptied again, a few times.
   */
  private async deleteFirewall(id: number, signal: AbortSignal, known?: Firewall): Promise<void> {
    for (let round = 1; ; round++) {
      const fw = known ?? (await this.getFirewall(id, signal))
      known = undefined
      if (!fw) break
      await this.detachFirewall(fw, signal)
      try {
        await this.hc.call(`DELETE /firewalls/${id}`, (api, sig) => api.DELETE('/firewalls/{id}', {params: {path: {id}}, signal: sig}), signal, {persistent: true})
        break
      } catch (error) {
        if (isCode(error, 'not_found')) break
        if (!isCode(error, 'resource_in_use') || round >= FIREWALL_ROUNDS) throw error
        this.context.log.warn(`firewall ${fw.name} (${id}) is still in use; removing what it is applied to again`)
        await this.context.helpers.sleep(500 * round, signal)
      }
    }
    this.created.firewalls.delete(id)
  }

  private async getFirewall(id: number, signal: AbortSignal): Promise<Firewall | undefined> {
    try {
      const got = await this.hc.call(`GET /firewalls/${id}`, (api, sig) => api.GET('/firewalls/{id}', {params: {path: {id}}, signal: sig}), signal, {persistent: true})
      return got.firewall
    } catch (error) {
      if (isCode(error, 'not_found')) return undefined
      throw error
    }
  }

  /** Remove a firewall from everything in its applied_to (label selectors as they are, servers applied by id) and wait for it. */
  private async detachFirewall(fw: Firewall, signal: AbortSignal): Promise<void> {
    const removeFrom = (fw.applied_to ?? []).map((a) => (a.type === 'label_selector' ? {label_selector: {selector: a.label_selector!.selector}, type: 'label_selector' as const} : {server: {id: a.server!.id}, type: 'server' as const}))
    if (removeFrom.length === 0) return
    let actions: Action[]
    try {
      const made = await this.hc.call(
        `POST /firewalls/${fw.id}/actions/remove_from_resources`,
        (api, sig) => api.POST('/firewalls/{id}/actions/remove_from_resources', {body: {remove_from: removeFrom}, params: {path: {id: fw.id}}, signal: sig}),
        signal,
        {persistent: true},
      )
      actions = made.actions
    } catch (error) {
      // Gone, or an entry already removed (by an earlier try or run): the delete that follows says whether anything is left.
      if (isCode(error, 'not_found', 'firewall_resource_not_found')) return
      throw error
    }
    await Promise.all(actions.map((a) => this.waiter.wait(a, `removing firewall ${fw.name} from ${removeFrom.map((r) => r.label_selector?.selector ?? `server ${r.server?.id}`).join(', ')}`, 120_000, signal)))
  }

  async destroyNode(node: NodeRecord, forest: ForestRecord, signal: AbortSignal): Promise<void> {
    const ids = new Set<number>()
    const ref = Number(node.provider_ref)
    if (Number.isInteger(ref) && ref > 0) ids.add(ref)
    const labelled = await this.hc.call('GET /servers', (api, sig) => api.GET('/servers', {params: {query: {label_selector: nodeSelector(forest.id, node.id)}}, signal: sig}), signal)
    for (const s of labelled.servers) ids.add(s.id)
    await Promise.all([...ids].map((id) => this.deleteServer(id, signal)))
    const left = await this.hc.call('GET /primary_ips', (api, sig) => api.GET('/primary_ips', {params: {query: {label_selector: nodeSelector(forest.id, node.id)}}, signal: sig}), signal)
    await this.deletePrimaryIps(left.primary_ips.map((p) => p.id))
    this.ips.delete(this.key(forest.id, node.id))
    // A node leaving a live forest leaves the firewall too; teardown removes the whole firewall instead.
    if (forest.status !== 'tearing_down') await this.refreshFirewall(forest, signal)
  }

  async listNodes(forestId: string, signal: AbortSignal): Promise<ProviderNode[]> {
    const servers = await this.servers(forestSelector(forestId), signal)
    return servers.map((s) => ({forest_id: forestId, id: s.labels?.node ?? s.name, provider_ref: String(s.id), running: s.status === 'running'}))
  }

  private servers(selector: string, signal: AbortSignal): Promise<Server[]> {
    return this.hc.all('GET /servers', (api, page, sig) => api.GET('/servers', {params: {query: {label_selector: selector, page, per_page: 50}}, signal: sig}), (d) => d.servers, signal)
  }

  /** Every server with the forest's label (known to the registry or not), then the firewall, then the Primary IPs. */
  async destroyForest(forest: ForestRecord, signal: AbortSignal): Promise<void> {
    const servers = await this.servers(forestSelector(forest.id), signal)
    await Promise.all(servers.map((s) => this.deleteServer(s.id, signal)))
    for (const fw of await this.findFirewalls(forest.id, signal)) await this.deleteFirewall(fw.id, signal, fw)
    const ips = await this.hc.all('GET /primary_ips', (api, page, sig) => api.GET('/primary_ips', {params: {query: {label_selector: forestSelector(forest.id), page, per_page: 50}}, signal: sig}), (d) => d.primary_ips, signal)
    await this.deletePrimaryIps(ips.map((p) => p.id))
  }

  /** Monthly price of one node (server type in its location, plus its Primary IPs), from /pricing. */
  async resources(_node: NodeRecord, signal: AbortSignal): Promise<NodeResources> {
    const plan = await this.ensurePlan(signal)
    const {per_node: perNode} = await this.estimate({count: 1, signal})
    return {memory_bytes: Math.round(this.firstChoice(plan).type.memory * 1024 ** 3), monthly_price: perNode}
  }

  /**
   * What `count` nodes cost a month, gross, from /pricing: the first server type and location the
   * plan would order (fallbacks may cost more or less, which plant says when it falls back), plus one
   * Primary IPv6 and, with ipv4 on, one Primary IPv4 per node. Firewalls are free.
   */
  async estimate(request: {count: number; signal: AbortSignal}): Promise<CostEstimate> {
    const plan = await this.ensurePlan(request.signal)
    const choice = this.firstChoice(plan)
    const {pricing} = await this.hc.call('GET /pricing', (api, sig) => api.GET('/pricing', {signal: sig}), request.signal)
    const server = choice.type.prices.find((p) => p.location === choice.location)
    const cents = (value: string | undefined) => Math.round(Number(value ?? 0) * 100)
    let perNode = cents(server?.price_monthly.gross)
    const breakdown = [`${choice.type.name} in ${choice.location}: ${money(perNode, pricing.currency)}`]
    for (const type of this.settings.ipv4 ? ['ipv4', 'ipv6'] : ['ipv6']) {
      const price = cents(pricing.primary_ips.find((p) => p.type === type)?.prices.find((p) => p.location === choice.location)?.price_monthly.gross)
      perNode += price
      breakdown.push(`Primary ${type === 'ipv4' ? 'IPv4' : 'IPv6'}: ${money(price, pricing.currency)}`)
    }
    breakdown.push('firewall: free')
    return {
      breakdown,
      monthly: {amount: (perNode * request.count) / 100, currency: pricing.currency},
      per_node: {amount: perNode / 100, currency: pricing.currency},
    }
  }

  /** Resources labelled managed-by=morpheus whose forest label is missing or names no forest in `knownForests`. */
  async orphans(knownForests: readonly string[], signal: AbortSignal): Promise<OrphanResource[]> {
    const known = new Set(knownForests)
    const q = (page: number) => ({params: {query: {label_selector: managedSelector, page, per_page: 50}}})
    const servers = await this.hc.all('GET /servers', (api, page, sig) => api.GET('/servers', {...q(page), signal: sig}), (d) => d.servers, signal)
    const ips = await this.hc.all('GET /primary_ips', (api, page, sig) => api.GET('/primary_ips', {...q(page), signal: sig}), (d) => d.primary_ips, signal)
    const fws = await this.hc.all('GET /firewalls', (api, page, sig) => api.GET('/firewalls', {...q(page), signal: sig}), (d) => d.firewalls, signal)
    const out: OrphanResource[] = []
    const orphan = (labels: Record<string, string> | undefined) => !labels?.forest || !known.has(labels.forest)
    const add = (kind: OrphanKind, r: {id: number; name: string; labels?: Record<string, string>}) => {
      if (orphan(r.labels)) out.push({id: String(r.id), kind, name: r.name, ...(r.labels?.forest ? {forest: r.labels.forest} : {})})
    }
    // In the order they must go: a server holds its Primary IPs and firewall.
    for (const s of servers) add('server', s)
    for (const f of fws) add('firewall', f)
    for (const p of ips) add('primary_ip', p)
    return out
  }

  /** Delete one orphan; gone already is fine. Servers are waited for, so their Primary IPs can go next. */
  async destroyOrphan(orphan: OrphanResource, signal: AbortSignal): Promise<void> {
    const id = Number(orphan.id)
    if (!Number.isSafeInteger(id)) throw this.context.error('FAILED', `not a Hetzner resource id: ${orphan.id}`)
    switch (orphan.kind as OrphanKind) {
      case 'server':
        return this.deleteServer(id, signal)
      case 'primary_ip':
        return this.deletePrimaryIps([id])
      case 'firewall':
        return this.deleteFirewall(id, signal)
      default:
        throw this.context.error('FAILED', `unknown kind of Hetzner resource: ${orphan.kind}`)
    }
  }
}

type OrphanKind = 'server' | 'primary_ip' | 'firewall'

function money(cents: number, currency: string): string {
  return `${(cents / 100).toFixed(2)} ${currency}`
}

export function createHetznerProvider(context: PluginContext): Provider {
  return new HetznerProvider(context)
}
