import type {CreatedNode, CreateNodeRequest, ForestRecord, NodeAddresses, NodeRecord, PlanRequest} from 'morpheus/plugin-api'

import type {Action, Server} from '../api/types.js'
import {addressesOf, type NodeIps} from '../addresses.js'
import type {Choice, Plan} from '../catalog.js'
import {nodeLabels, nodeSelector, resourceName} from '../labels.js'
import {CLEANUP_MS, isCode, type Cloud} from './cloud.js'
import {createPrimaryIp, deletePrimaryIps, idsOf, nodePrimaryIps} from './primary-ips.js'

const USER_DATA_LIMIT = 32 * 1024

/** What creating one server needs from the run: the ordering, what was found unavailable, keys, addresses, user data. */
export interface ServerRun {
  plan: Plan
  /** (type@location) pairs that answered resource_unavailable or placement_error in this run; added to here. */
  unavailable: Set<string>
  /** SSH key names for POST /servers. */
  sshKeyNames: string[]
  /** The node's Primary IPs as prepare() made or found them. */
  ips: NodeIps
  /** The node's Primary IPs moved to another location (a fallback). */
  ipsMoved(ips: NodeIps): void
  userData(request: PlanRequest, node: NodeRecord): string
  /** The forest firewall's rules again from its Primary IPs. */
  refreshFirewall(signal: AbortSignal): Promise<void>
  /**
   * replaceNode: the node's Primary IPs are its identity. Only locations where they are are tried
   * (never moved), and a failure removes the new server only, never the addresses.
   */
  keepIps?: boolean
}

function choiceKey(c: Choice): string {
  return `${c.type.name}@${c.location}`
}

/** The first (type, location) of the plan not found unavailable in this run, if any. */
export function nextChoice(plan: Plan, unavailable: ReadonlySet<string>): Choice | undefined {
  return plan.choices.find((c) => !unavailable.has(choiceKey(c)))
}

/** The choice the next server would get (the plan's first when all were unavailable). */
export function firstChoice(plan: Plan, unavailable: ReadonlySet<string>): Choice {
  return nextChoice(plan, unavailable) ?? plan.choices[0]
}

/** The node's user data from the templates; Hetzner takes at most 32 KiB. */
export function userData(cloud: Cloud, request: PlanRequest, node: NodeRecord, sshKeys: string[], operatorCidrs: string[]): string {
  const {context, settings} = cloud
  const text = context.templates.userData({
    cluster: request.cluster,
    clusterAuth: request.clusterAuth,
    systemUser: request.systemUser ?? null,
    forest: request.forest,
    ipv4: settings.ipv4,
    natsMode: request.natsMode,
    node,
    operatorCidrs,
    peers: request.peers,
    ports: request.ports,
    sshKeys,
    ...(request.versions ? {versions: request.versions} : {}),
  })
  const size = Buffer.byteLength(text, 'utf8')
  if (size > USER_DATA_LIMIT) {
    throw context.error(
      'FAILED',
      `${node.id}: the user data is ${size} bytes; Hetzner accepts at most ${USER_DATA_LIMIT}`,
      'Shorten your templates (templates.dir) or move large files to a download.',
    )
  }
  return text
}

/**
 * Create a node's server: the plan's (type, location) choices in order, moving on from one that is
 * unavailable (moving the node's Primary IPs when the location changes); a server of the same name
 * that is this node's (an earlier try) is adopted. Then wait for it to start and for its NATS to
 * answer. On any failure, what was made for the node is removed before the error is thrown.
 */
export async function createServer(cloud: Cloud, run: ServerRun, request: CreateNodeRequest): Promise<CreatedNode> {
  const {context, settings} = cloud
  const {forest, signal} = request
  const plan = run.plan
  let ips = run.ips
  let node: NodeRecord = {...request.node, ...addressesOf(ips, settings.route_via)}
  const name = resourceName(forest.id, node.id)
  let server: Server | undefined
  let actions: Action[] = []
  let choice: Choice | undefined
  let attempted = false
  try {
    for (;;) {
      choice = nextChoice(plan, run.unavailable)
      if (!choice) {
        throw context.error(
          'FAILED',
          `${node.id}: no configured server type can be placed in any configured location right now (tried ${[...run.unavailable].join(', ')})`,
          'Add fallbacks (providers.hetzner.locations, server_types) or try again later.',
        )
      }
      const location = ips.v6?.location?.name
      if (run.keepIps && location && location !== choice.location) {
        // The node's addresses stay where they are: this choice cannot be placed there.
        run.unavailable.add(choiceKey(choice))
        continue
      }
      if (location && location !== choice.location) {
        ips = await moveIps(cloud, run, forest, node, ips, choice.location, signal)
        node = {...node, ...addressesOf(ips, settings.route_via)}
        request.addressesKnown(addressesOf(ips, settings.route_via))
      }
      const data = run.userData(request, node)
      try {
        request.progress(`creating server ${name} (${choice.type.name} in ${choice.location})`)
        attempted = true
        const made = await cloud.hc.call(
          'POST /servers',
          (api, sig) =>
            api.POST('/servers', {
              body: {
                image: plan.image.name ?? String(plan.image.id),
                labels: nodeLabels(forest.id, node.id, node.role || 'edge'),
                location: choice!.location,
                name,
                public_net: {
                  enable_ipv4: settings.ipv4,
                  enable_ipv6: true,
                  ...(ips.v6 ? {ipv6: ips.v6.id} : {}),
                  ...(settings.ipv4 && ips.v4 ? {ipv4: ips.v4.id} : {}),
                },
                server_type: choice!.type.name,
                ssh_keys: run.sshKeyNames,
                start_after_create: true,
                user_data: data,
              },
              signal: sig,
            }),
          signal,
        )
        server = made.server
        actions = [made.action, ...(made.next_actions ?? [])]
      } catch (error) {
        if (isCode(error, 'resource_unavailable', 'placement_error')) {
          run.unavailable.add(choiceKey(choice))
          const next = nextChoice(plan, run.unavailable)
          context.log.warn(
            `${node.id}: ${choice.type.name} in ${choice.location} is not available (${(error as {hcloudCode: string}).hcloudCode})${next ? `; trying ${next.type.name} in ${next.location}` : ''}`,
          )
          continue
        }
        if (isCode(error, 'uniqueness_error')) {
          server = await adopt(cloud, name, forest.id, node.id, signal)
          if (server) break
          throw context.error(
            'FAILED',
            `${node.id}: a server named "${name}" already exists in the Hetzner project and does not belong to this node`,
            `Rename or delete that server in the Hetzner Console; Morpheus leaves servers it did not make alone.`,
          )
        }
        throw error
      }
      break
    }
    cloud.created.servers.add(server.id)
    const addresses: NodeAddresses = {...addressesOf(ips, settings.route_via), provider_ref: String(server.id)}
    request.addressesKnown(addresses)
    request.progress(`server ${name} (${server.id}) is being created; waiting for it to start`)
    const timeoutMs = settings.boot_timeout_seconds * 1000
    const started = Date.now()
    await Promise.all(actions.map((a) => cloud.waiter.wait(a, `server ${name}: ${a.command}`, timeoutMs, signal)))
    await waitMonitoring(
      cloud,
      node.id,
      addresses,
      request.ports.monitor,
      Math.max(1000, timeoutMs - (Date.now() - started)),
      signal,
      request.progress,
    )
    return {...addresses, memory_bytes: Math.round((choice?.type.memory ?? 0) * 1024 ** 3), versions: nodeVersions(cloud, request)}
  } catch (error) {
    await removeFailedNode(cloud, forest, node, server, run.keepIps ? {} : ips, attempted, run.keepIps)
    throw error
  }
}

/** What the node's user data installs: the pinned versions over the config's defaults. */
export function nodeVersions(cloud: Cloud, request: Pick<CreateNodeRequest, 'natsMode' | 'versions'>): CreatedNode['versions'] {
  const defaults = cloud.context.templates.defaultVersions?.(request.natsMode) ?? {}
  const pinned = request.versions ?? {}
  const nats = request.natsMode === 'system' ? (pinned.nats ?? defaults.nats) : undefined
  // A pinned version other than the default downloads from the same URL pattern; the recorded source is the forest's.
  return {
    ...(nats ? {nats} : {}),
    ...(nats && (pinned.nats_source ?? defaults.nats_source)
      ? {
          nats_source:
            pinned.nats && pinned.nats !== defaults.nats ? (pinned.nats_source ?? `release ${pinned.nats}`) : defaults.nats_source,
        }
      : {}),
    ...((pinned.nimsforest ?? defaults.nimsforest) ? {nimsforest: pinned.nimsforest ?? defaults.nimsforest} : {}),
  }
}

/** The location changed (fallback): the node's Primary IPs must be in the new one. */
async function moveIps(
  cloud: Cloud,
  run: ServerRun,
  forest: ForestRecord,
  node: NodeRecord,
  ips: NodeIps,
  location: string,
  signal: AbortSignal,
): Promise<NodeIps> {
  await deletePrimaryIps(cloud, idsOf(ips))
  const moved: NodeIps = {v6: await createPrimaryIp(cloud, forest, node, 'ipv6', location, signal)}
  if (cloud.settings.ipv4) moved.v4 = await createPrimaryIp(cloud, forest, node, 'ipv4', location, signal)
  run.ipsMoved(moved)
  await run.refreshFirewall(signal)
  return moved
}

/** The server runs; its NATS answers once cloud-init has started it. Probed from the operator's side, as the core does. */
async function waitMonitoring(
  cloud: Cloud,
  nodeId: string,
  addresses: NodeAddresses,
  port: number,
  timeoutMs: number,
  signal: AbortSignal,
  progress: (m: string) => void,
): Promise<void> {
  const {context, settings} = cloud
  const host = addresses.probe_address ?? addresses.ip
  if (!host) return
  const url = `http://${context.helpers.hostPort(host, port)}/varz`
  progress(`server started; waiting for NATS at ${url}`)
  try {
    await context.helpers.pollUntil(
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
      {intervalMs: Math.min(250, settings.poll_interval_seconds * 1000), signal, timeoutMs, what: `${nodeId}: NATS monitoring at ${url}`},
    )
  } catch (error) {
    if (signal.aborted) throw error
    throw context.error(
      'FAILED',
      `${nodeId}: the server runs, but NATS did not answer at ${url} within ${Math.round(timeoutMs / 1000)}s`,
      "Check that this machine is allowed by providers.hetzner.operator_cidrs, and the node's /var/log/cloud-init-output.log (ssh root@<address>).",
      {cause: error},
    )
  }
}

/** A server made by an earlier try of the same create (a timeout retried) or an earlier run: ours when its labels say so. */
async function adopt(cloud: Cloud, name: string, forestId: string, nodeId: string, signal: AbortSignal): Promise<Server | undefined> {
  const found = await cloud.hc.call('GET /servers', (api, sig) => api.GET('/servers', {params: {query: {name}}, signal: sig}), signal)
  const server = found.servers.find((s) => s.name === name && s.labels?.forest === forestId && s.labels?.node === nodeId)
  if (server) cloud.context.log.warn(`${nodeId}: server ${name} exists already (an earlier try made it); using it`)
  return server
}

/** After a failed or interrupted create: remove the server (if made) and the node's Primary IPs. */
async function removeFailedNode(
  cloud: Cloud,
  forest: ForestRecord,
  node: NodeRecord,
  server: Server | undefined,
  ips: NodeIps,
  attempted: boolean,
  keepIps = false,
): Promise<void> {
  const signal = AbortSignal.timeout(CLEANUP_MS)
  try {
    // A create interrupted in flight may have made the server without telling us its id: find it by its labels.
    const ids = new Set(server ? [server.id] : [])
    if (attempted) {
      for (const s of await nodeServers(cloud, forest.id, node.id, signal, {persistent: true})) ids.add(s.id)
    }
    for (const id of ids) {
      cloud.context.log.warn(`${node.id}: removing server ${id}, which did not come up`)
      await deleteServer(cloud, id, signal)
    }
    if (keepIps) return
    const left = await nodePrimaryIps(cloud, forest.id, node.id, signal, {persistent: true})
    await deletePrimaryIps(cloud, [...new Set([...left.map((p) => p.id), ...idsOf(ips)])])
  } catch (error) {
    cloud.context.log.warn(
      `${node.id}: could not remove everything this run made for it (${(error as Error).message}); \`morpheus teardown ${forest.id}\` removes the rest`,
    )
  }
}

/** The servers labelled for one node (one page: a node has one, two after an interrupted create at most). */
export async function nodeServers(
  cloud: Cloud,
  forestId: string,
  nodeId: string,
  signal: AbortSignal,
  options: {persistent?: boolean} = {},
): Promise<Server[]> {
  const found = await cloud.hc.call(
    'GET /servers',
    (api, sig) => api.GET('/servers', {params: {query: {label_selector: nodeSelector(forestId, nodeId)}}, signal: sig}),
    signal,
    options.persistent ? {persistent: true} : undefined,
  )
  return found.servers
}

/** Every server matching a label selector (all pages). */
export function listServers(cloud: Cloud, selector: string, signal: AbortSignal): Promise<Server[]> {
  return cloud.hc.all(
    'GET /servers',
    (api, page, sig) => api.GET('/servers', {params: {query: {label_selector: selector, page, per_page: 50}}, signal: sig}),
    (d) => d.servers,
    signal,
  )
}

/** Delete a server and wait until it is gone; one already gone is fine. */
export async function deleteServer(cloud: Cloud, id: number, signal: AbortSignal): Promise<void> {
  let action: Action | undefined
  try {
    const result = await cloud.hc.call(
      `DELETE /servers/${id}`,
      (api, sig) => api.DELETE('/servers/{id}', {params: {path: {id}}, signal: sig}),
      signal,
      {persistent: true},
    )
    action = result.action
  } catch (error) {
    if (isCode(error, 'not_found')) {
      cloud.created.servers.delete(id)
      return
    }
    throw error
  }
  if (action) await cloud.waiter.wait(action, `deleting server ${id}`, 120_000, signal)
  cloud.created.servers.delete(id)
}
