/**
 * The data templates/cloud-init/<mode>.hbs is rendered with, for one node. Every optional part is
 * an explicit null or false (the templates are strict), and every value is still raw: the
 * templates escape each one for the context it lands in.
 */
import {isIP} from 'node:net'

import {MorpheusError} from '../errors.js'
import type {NodeRecord, TemplateRenderer, UserDataInput} from '../plugin-api/index.js'
import {checkCidr, type BootstrapSettings} from './bootstrap.js'
import {jsonText} from './escape.js'
import {natsConfigData} from './nats.js'

/** Hetzner Cloud (and most clouds) refuse user data larger than this. */
export const USER_DATA_LIMIT = 32 * 1024

/** Where things live on a node (NimsForest's own defaults, set explicitly in its unit). */
export const NODE_PATHS = {
  bootstrap: '/usr/local/sbin/morpheus-bootstrap',
  firewallSync: '/usr/local/sbin/morpheus-firewall-sync',
  firewallSyncConfig: '/etc/morpheus/firewall.json',
  firewallSyncState: '/var/lib/morpheus/firewall-sync.json',
  jetstream: '/var/lib/nimsforest/jetstream',
  mount: '/mnt/forest',
  natsBinary: '/usr/local/bin/nats-server',
  natsConf: '/etc/nats/nats.conf',
  natsStore: '/var/lib/nats/jetstream',
  natsTls: '/etc/nats/tls',
  nimsforestBinary: '/opt/nimsforest/bin/forest',
  nodeInfo: '/etc/nimsforest/node-info.json',
} as const

/** A node's addresses the host firewall admits; IPv4 ones only when this node has IPv4 itself. */
function addresses(node: Pick<NodeRecord, 'ip' | 'ipv4' | 'ipv6'>, ipv4: boolean): string[] {
  return [node.ip, node.ipv6, node.ipv4].filter((a): a is string => Boolean(a) && (ipv4 || isIP(a!) !== 4))
}

/** The registry file NimsForest reads when no registry folder is mounted: this node and its peers. */
export function registryFileFor(input: UserDataInput): {nodes: Record<string, Array<Record<string, string>>>} {
  const entry = (n: NodeRecord) => ({
    forest_id: input.forest.id,
    id: n.id,
    ip: n.ip,
    ...(n.ipv4 ? {ipv4: n.ipv4} : {}),
    ...(n.ipv6 ? {ipv6: n.ipv6} : {}),
  })
  const nodes = [input.node, ...input.peers.filter((p) => p.id !== input.node.id && p.ip)]
  return {nodes: {[input.forest.id]: nodes.map(entry)}}
}

export function userDataView(
  input: UserDataInput,
  settings: BootstrapSettings,
  renderer: Pick<TemplateRenderer, 'render'>,
): Record<string, unknown> {
  if (input.natsMode !== 'embedded' && input.natsMode !== 'system') {
    throw new MorpheusError('UNEXPECTED', `unknown NATS mode "${String(input.natsMode)}" (embedded or system)`)
  }
  if (!input.node.ip)
    throw new MorpheusError(
      'UNEXPECTED',
      `node ${input.node.id} has no route address yet: its user data needs one (prepare() or reserve() must allocate it)`,
    )
  const system = input.natsMode === 'system'
  const peers = input.peers.filter((p) => p.id !== input.node.id && p.ip)
  const forestAddresses = [...new Set([input.node, ...peers].flatMap((n) => addresses(n, input.ipv4)))]
  const operatorCidrs = input.operatorCidrs.map((c) => checkCidr(c))
  const mounted = settings.registryMount
  const registryPath = mounted ? `${NODE_PATHS.mount}/${mounted.file}` : `${NODE_PATHS.mount}/registry.json`
  const tls =
    system && settings.routeTls
      ? {ca_file: `${NODE_PATHS.natsTls}/ca.pem`, cert_file: `${NODE_PATHS.natsTls}/cert.pem`, key_file: `${NODE_PATHS.natsTls}/key.pem`}
      : null

  const nodeInfo: Record<string, unknown> = {forest_id: input.forest.id, node_id: input.node.id, ip: input.node.ip}
  if (input.node.ipv6) nodeInfo.ipv6 = input.node.ipv6
  if (input.node.ipv4) nodeInfo.ipv4 = input.node.ipv4
  nodeInfo.nats_mode = input.natsMode
  nodeInfo.ports = input.ports
  // Embedded mode: NimsForest configures its own NATS; the route credentials are handed to it here
  // (a root-only file), for a NimsForest that reads them.
  if (!system && input.clusterAuth) nodeInfo.cluster_auth = {password: input.clusterAuth.password, user: input.clusterAuth.user}

  let natsConf: string | null = null
  if (system) {
    const bindAll = '::'
    const data = natsConfigData(
      {
        bind: {client: settings.clientLocalOnly ? '127.0.0.1' : bindAll, cluster: bindAll, monitor: bindAll},
        cluster: input.cluster,
        cluster_auth: input.clusterAuth,
        files: {store_dir: NODE_PATHS.natsStore},
        system_user: input.systemUser ?? null,
        forest: input.forest,
        jetstream: settings.jetstream,
        node: input.node,
        peers,
        ports: input.ports,
      },
      {tls},
    )
    natsConf = renderer.render('nats.conf', data)
  }

  const environment: Array<{name: string; value: string}> = [
    {name: 'NATS_CLUSTER_NODE_INFO', value: NODE_PATHS.nodeInfo},
    {name: 'NATS_CLUSTER_REGISTRY', value: registryPath},
    {name: 'JETSTREAM_DIR', value: NODE_PATHS.jetstream},
  ]
  if (system) environment.push({name: 'NATS_URL', value: `nats://127.0.0.1:${input.ports.client}`})

  const clientOpen = !settings.clientLocalOnly && system
  // Routes with the forest's credentials (system mode) need no address list: the route port is open, so
  // nodes that grow adds later join whatever the registry backend. Embedded NATS has no route
  // authentication, so there only the forest's addresses may route.
  const routesOpen = system && Boolean(input.clusterAuth)
  const firewallPorts: Array<[number, string]> = [
    ...(routesOpen ? [] : [[input.ports.cluster, 'NATS routes'] as [number, string]]),
    [input.ports.monitor, 'NATS monitoring'],
  ]
  if (clientOpen) firewallPorts.push([input.ports.client, 'NATS clients'])
  // With the registry mounted, the host firewall follows it (grow adds nodes after this one boots).
  const firewallSync = mounted
    ? {
        boot_addresses: forestAddresses,
        forest: input.forest.id,
        ipv4: input.ipv4,
        ports: firewallPorts,
        registry: registryPath,
        state: NODE_PATHS.firewallSyncState,
      }
    : null
  const packages = [...new Set(['ca-certificates', 'curl', 'ufw', ...(mounted?.packages ?? [])])]
  return {
    cluster_auth_in_node_info: Boolean(nodeInfo.cluster_auth),
    environment,
    firewall: {
      client_open: clientOpen,
      sync_text: firewallSync ? `${jsonText(firewallSync, 2)}\n` : null,
      forest_addresses: forestAddresses,
      operator_cidrs: operatorCidrs,
      routes_open: routesOpen,
    },
    forest: {id: input.forest.id},
    ipv4: input.ipv4,
    mode: input.natsMode,
    nats_server: system
      ? {
          conf_text: natsConf,
          install: settings.nats.install,
          url: settings.nats.url,
          sha256: settings.nats.sha256 ?? '',
          tls:
            settings.routeTls && tls
              ? {...tls, ca_text: settings.routeTls.ca, cert_text: settings.routeTls.cert, key_text: settings.routeTls.key}
              : null,
          version: settings.nats.version,
        }
      : null,
    nimsforest: {sha256: settings.nimsforest.sha256 ?? '', url: settings.nimsforest.url},
    node: {id: input.node.id, ip: input.node.ip},
    node_info_text: `${jsonText(nodeInfo, 2)}\n`,
    packages,
    paths: NODE_PATHS,
    ports: input.ports,
    // The registry backend's mount of its folder (RegistryBackend.nodeAccess), rendered as given: checked in bootstrap.ts.
    registry: mounted
      ? {file: null, files: mounted.files, mount: mounted.mount, path: registryPath}
      : {file: `${jsonText(registryFileFor(input), 2)}\n`, files: [], mount: null, path: registryPath},
    ssh_keys: [...(input.sshKeys ?? [])],
    system,
  }
}

/** Refuse user data a cloud would refuse, saying what to shrink. */
export function checkUserDataSize(text: string, nodeId: string): string {
  const size = Buffer.byteLength(text, 'utf8')
  if (size > USER_DATA_LIMIT) {
    throw new MorpheusError(
      'CONFIG',
      `the user data of node ${nodeId} is ${size} bytes, more than the 32 KiB (${USER_DATA_LIMIT} bytes) a cloud accepts`,
      {
        hint: 'Shorten what goes into it: fewer SSH keys, smaller route TLS certificates, or smaller templates in templates.dir.',
      },
    )
  }
  return text
}
