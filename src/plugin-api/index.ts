/**
 * The plugin contract of Morpheus, exported as `morpheus/plugin-api` (API version 2).
 *
 * A plugin is an npm package with an oclif hook for `morpheus:providers` or
 * `morpheus:registries`. The hook returns descriptors: small objects with a
 * name, a summary, capabilities and an async `load()` that imports the heavy
 * implementation only when a command needs it.
 *
 * Plugins import *types* from here (`import type {...} from 'morpheus/plugin-api'`).
 * Everything a plugin needs at run time (its config section and declared secrets,
 * template rendering, logging, errors, the command's abort signal, retry/poll/URL/
 * process helpers) reaches it through the context object the core passes to
 * `load()`'s factory, so a plugin never depends on the core's internals or on the
 * core being resolvable from the plugin's own directory.
 *
 * docs/plugins.md explains every method and field; this file is the reference. Published as
 * dist/plugin-api/index.d.ts of the morpheus package (resolve it as `morpheus/plugin-api` with
 * Morpheus as a development dependency: docs/plugins.md, "Resolving morpheus/plugin-api and
 * morpheus/testing"); the test kits are `morpheus/testing` (dist/testing/index.d.ts).
 */

/**
 * Version of this contract. A descriptor whose apiVersion differs is refused with a message
 * naming the version it needs. Version 1 plugins (Morpheus 0.1) are refused: see
 * docs/plugins.md, "Moving a plugin from API 1 to 2".
 */
export const PLUGIN_API_VERSION = 2

export const PROVIDERS_HOOK = 'morpheus:providers'
export const REGISTRIES_HOOK = 'morpheus:registries'

// ---------------------------------------------------------------------------
// Errors: plugins throw ordinary Errors carrying one of these codes (duck-typed,
// so a plugin built against another core version still maps correctly).
// ---------------------------------------------------------------------------
export type PluginErrorCode =
  | 'CONFLICT' // conditional write lost: the revision changed (registry); the core retries
  | 'LOCKED' // a lock held by another writer did not come free in time (registry); not retried
  | 'NOT_FOUND' // the thing asked for does not exist
  | 'PREREQUISITE' // something the plugin needs is missing (binary, credentials, ...)
  | 'UNREACHABLE' // a server could not be reached
  | 'AUTH' // credentials were refused
  | 'UNSUPPORTED' // the backend/server cannot do what is asked (e.g. no verifiable CAS)
  | 'CONFIG' // a value of the plugin's own config section cannot be used (name the key); exit 3. Since API 2 (older cores map it like FAILED)
  | 'FAILED' // anything else that went wrong in the plugin

export interface PluginErrorShape extends Error {
  code: PluginErrorCode
  /** One line telling the user what to do about it. Never contains a secret. */
  hint?: string
  /**
   * The same call may well succeed if made again: a 5xx answer, a timeout, a reset connection.
   * The core retries transient registry errors with jittered back-off (a bounded number of times);
   * it never retries an error without this flag, except CONFLICT.
   */
  transient?: boolean
}

export interface PluginErrorOptions {
  transient?: boolean
  cause?: unknown
}

// ---------------------------------------------------------------------------
// Config schemas: a plugin describes its config section (`providers.<name>` or
// `registry.*`) so the core can validate it and name the key and file in errors.
// ---------------------------------------------------------------------------
export type ConfigType = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'string[]' | 'map'

export interface ConfigKeySchema {
  type: ConfigType
  description: string
  default?: unknown
  enum?: readonly string[]
  minimum?: number
  maximum?: number
  /** Secret values are masked in `config get/list` and never logged. */
  secret?: boolean
  /** For type 'object'. */
  properties?: ConfigSchema
  /** For type 'map': the schema of each value. */
  values?: ConfigKeySchema
}

export type ConfigSchema = Record<string, ConfigKeySchema>

// ---------------------------------------------------------------------------
// Registry document (version 1; the fields marked "since API 2" are optional
// additions that older readers ignore). NimsForest reads nodes{forest_id: [...]}.
// ---------------------------------------------------------------------------
export type ForestStatus = 'planting' | 'active' | 'failed' | 'interrupted' | 'tearing_down'
/**
 * reserved: claimed in the registry, nothing made yet (a re-run or teardown may simply drop it);
 * creating: the provider was asked to create it, so it may exist; starting: it exists and boots;
 * active: it answers as a healthy NATS server; failed: creation or start failed (it may exist);
 * deleting: teardown is removing it.
 */
export type NodeStatus = 'reserved' | 'creating' | 'starting' | 'active' | 'failed' | 'deleting'

/** A command that is changing a forest right now (plant, grow, teardown, repair, upgrade, shrink). Since API 2. */
export interface ForestOperation {
  kind: 'plant' | 'grow' | 'teardown' | 'repair' | 'upgrade' | 'shrink'
  /** The device running it (see PluginContext.device). */
  device: string
  pid: number
  started_at: string
  /** Random, so a command recognises its own claim when it applies it again after a conflict. */
  token?: string
}

export interface ForestRecord {
  id: string
  provider: string
  size: string
  status: ForestStatus
  created_at: string
  last_expansion: string | null
  /** Desired node count when planted (grow raises it). */
  node_count: number
  location?: string
  /** `embedded` (NimsForest embeds NATS) or `system` (separate nats-server). */
  nats_mode?: NatsMode
  /** Free-form details recorded by the core (never secrets). */
  note?: string
  /**
   * Since API 2: for providers whose nodes are processes of one machine (capabilities.machineLocal),
   * the device they run on. Other devices see the forest but do not touch its nodes.
   */
  device?: string
  /** Since API 2 (optional): when `repair --auto` last replaced a node (its cooldown starts here). */
  last_repair?: string | null
  /** Since API 2: the command changing this forest right now, if any (cleared when it ends). */
  operation?: ForestOperation | null
  /** Since API 2: the node ports used when a node records none of its own (forest.ports at plant time). */
  ports?: NatsPorts
  /**
   * Since API 2 (optional): the versions the forest's nodes run, recorded at plant (what the first
   * node started with) and changed by `upgrade`. grow and repair create nodes with these, not with
   * the newest default. Absent in documents written before versions were recorded.
   */
  versions?: NodeVersions
}

/**
 * What a node runs. Every field is optional: a provider fills in what it knows. Values are never
 * secret (a download URL with a token in it does not belong here).
 */
export interface NodeVersions {
  /** nats-server release, e.g. "2.10.24" (system mode; a local node: what the binary's --version says). */
  nats?: string
  /** Where that nats-server comes from: a local binary's path, a cloud node's download URL. */
  nats_source?: string
  /** The NimsForest build: its download URL (cloud) or binary path (local, embedded mode). */
  nimsforest?: string
}

export interface NodeRecord {
  id: string
  /**
   * The address other nodes route to (NATS cluster routes). IPv6 preferred on cloud nodes. Empty
   * while the provider has not allocated it yet (see Provider.prepare and createNode).
   */
  ip: string
  ipv6?: string
  ipv4?: string
  forest_id: string
  role: string
  status: NodeStatus
  created_at: string
  /** The provider's own handle for the node (a server id, a directory, ...). */
  provider_ref?: string
  /**
   * Since API 2: the address Morpheus probes (NATS monitoring) when it is not `ip`, e.g. a public
   * address while routes use a private network.
   */
  probe_address?: string
  /** Since API 2: this node's ports, when they differ from the forest's (ForestRecord.ports). */
  ports?: NatsPorts
  /** Memory of the machine in bytes, when the provider knows it (for load percentages in grow). */
  memory_bytes?: number
  /** Since API 2 (optional): what this node runs (CreatedNode.versions), when it differs from nothing known. */
  versions?: NodeVersions
}

export interface RegistryDocument {
  version: 1
  updated_at: string
  forests: Record<string, ForestRecord>
  nodes: Record<string, NodeRecord[]>
}

// ---------------------------------------------------------------------------
// Context the core hands to every plugin factory
// ---------------------------------------------------------------------------
export interface Logger {
  debug(message: string): void
  info(message: string): void
  warn(message: string): void
}

export interface TemplateRenderer {
  /**
   * Render `<name>.hbs`, looked up first in the user's `templates.dir`, then in the plugin's own
   * template directory (ProviderDescriptor.templates), then in the core's `templates/`. Strict:
   * a variable the template uses but the data lacks is an error.
   */
  render(name: string, data: Record<string, unknown>): string
  /** Names of the templates found (all directories, without `.hbs`). */
  list(): string[]
  /** nats.conf for one node, from `nats.conf.hbs` (routes to every peer, own address advertised). */
  natsConfig(input: NatsConfigInput): string
  /**
   * The cloud-init user data that bootstraps one node (templates/cloud-init/*.hbs): NimsForest
   * (embedded NATS) or nats-server beside it (system), its identity and peers, route credentials,
   * host firewall rules and, when the registry backend gives one (RegistryBackend.nodeAccess), the
   * mount of the registry's folder. What the integration and
   * registry config says is added by the core. Throws when the result exceeds 32 KiB.
   */
  userData(input: UserDataInput): string
  /**
   * What userData() installs when the input names no versions: nats-server `integration.nats_version`
   * from `integration.nats_download_url` (system mode) and NimsForest from
   * `integration.nimsforest_download_url`. A cloud provider reports these (merged with the request's
   * pinned ones) as CreatedNode.versions.
   */
  defaultVersions(natsMode: NatsMode): NodeVersions
}

/** What createNode knows of a node (see CreateNodeRequest), plus what only a cloud provider knows. */
export interface UserDataInput extends Pick<
  CreateNodeRequest,
  'forest' | 'node' | 'peers' | 'cluster' | 'ports' | 'natsMode' | 'clusterAuth' | 'versions' | 'systemUser'
> {
  /** Whether the node has a public IPv4 address (IPv6 is always on). */
  ipv4: boolean
  /** Networks allowed to reach monitoring and SSH besides the forest's own nodes (CIDRs). */
  operatorCidrs: readonly string[]
  /** SSH public keys for the node's root account, if any. */
  sshKeys?: readonly string[]
}

export interface NatsConfigInput {
  forest: Pick<ForestRecord, 'id'>
  node: Pick<NodeRecord, 'id' | 'ip'>
  /** Peers to route to: every other node whose address is known (entries without `ip` are skipped). */
  peers: ReadonlyArray<Pick<NodeRecord, 'id' | 'ip'> & {ports?: NatsPorts}>
  /** This node's ports. A peer without ports of its own uses these. */
  ports: NatsPorts
  /**
   * Whether the node joins a cluster. False only for a forest of one node, which runs JetStream
   * standalone (a cluster of one never elects a meta leader). Defaults to `peers.length > 0`.
   */
  cluster?: boolean
  /** Where the servers listen: the node's own address locally, 0.0.0.0 / :: on a cloud node. */
  bind: {client: string; cluster: string; monitor: string}
  files: {store_dir: string; pid?: string | null; log?: string | null}
  cluster_auth?: ClusterAuth | null
  /**
   * The forest's system-account user (CreateNodeRequest.systemUser): an `accounts { SYS }` block with
   * that user, `system_account: SYS`, and clients without credentials kept in the global account.
   */
  system_user?: ClusterAuth | null
  jetstream?: {max_memory?: string | null; max_file?: string | null}
}

/** Route credentials of a forest (NATS cluster authorization). Generated by the core at plant. */
export interface ClusterAuth {
  user: string
  password: string
}

export interface RetryOptions {
  /** Total tries, the first included. Default 5. */
  tries?: number
  /** First back-off in ms (doubled each time, full jitter). Default 1000. */
  baseMs?: number
  /** Cap of one back-off in ms. Default 60000. */
  maxMs?: number
  /** Which errors to retry. Default: errors with `transient: true`. */
  retryable?: (error: unknown) => boolean
  /** A wait chosen by the caller for this error (e.g. until a rate limit resets), in ms; overrides the back-off. */
  waitFor?: (error: unknown) => number | undefined
  /** Told before each wait (e.g. to tell the user why). */
  onRetry?: (info: {attempt: number; delayMs: number; error: unknown}) => void
  signal?: AbortSignal
}

export interface PollOptions {
  /** Give up after this long (ms); the error names `what`. */
  timeoutMs: number
  /** Time between tries (ms). Default 1000. */
  intervalMs?: number
  /** What is awaited, for the timeout message. */
  what: string
  signal?: AbortSignal
}

/** Helpers every plugin gets, so none re-writes them. */
export interface PluginHelpers {
  /** Run fn until it succeeds, retrying as `options` says (exponential back-off with full jitter). */
  retry<T>(fn: (attempt: number) => Promise<T>, options?: RetryOptions): Promise<T>
  /** Call check until it returns a value other than undefined; a FAILED error after the timeout, an AbortError on abort. */
  pollUntil<T>(check: () => Promise<T | undefined>, options: PollOptions): Promise<T>
  /** An address as it stands in a URL: IPv6 in brackets. */
  urlHost(address: string): string
  /** `host:port` with IPv6 in brackets. */
  hostPort(address: string, port: number): string
  /** Is the process running? A zombie (exited, not yet reaped) is not. */
  processAlive(pid: number): boolean
  /** Does process `pid` carry NAME=value in its environment? How a plugin proves a process is the one it started. */
  processHasEnv(pid: number, name: string, value: string): boolean
  /** Sleep that ends early with an AbortError when the signal fires. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  /** Run fn over items, at most `limit` at once; every item runs, and the results (settled, never thrown) keep the input order. */
  mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<PromiseSettledResult<R>[]>
}

export interface PluginContext {
  /** The contract version the core speaks (2). */
  apiVersion: number
  /** The plugin's config section, `${ENV}`-expanded and validated against its configSchema. */
  config: Record<string, unknown>
  /**
   * The secrets the descriptor declares (`secrets: ['hetzner_api_token']`), from `secrets.<name>` in
   * the config, `${ENV}`-expanded; a name not set in the config is absent. Never log them.
   */
  secrets: Record<string, string>
  /** Directory holding the config file (relative paths in config resolve from here). */
  configDir: string
  /** A path from the config as the core reads paths: `~` is the home directory, relative paths start at configDir. */
  resolvePath(value: string): string
  /** Morpheus's per-user data directory (oclif's dataDir). */
  dataDir: string
  /** This device's identity, as recorded in ForestRecord.device (stable across runs). */
  device: string
  templates: TemplateRenderer
  log: Logger
  /** The default ports of a node (forest.ports in the config). */
  ports: NatsPorts
  /**
   * Fires when the user interrupts the command (Ctrl-C, SIGTERM). Every provider method also gets it.
   * A registry backend must not stop its I/O on it: the core records how an interrupted operation
   * ended through the backend; it honours IoOptions.signal instead.
   */
  signal: AbortSignal
  helpers: PluginHelpers
  /** Build an error the core maps to a stable exit code. */
  error(code: PluginErrorCode, message: string, hint?: string, options?: PluginErrorOptions): PluginErrorShape
}

// ---------------------------------------------------------------------------
// Providers
// ---------------------------------------------------------------------------
export type NatsMode = 'embedded' | 'system'

export interface ProviderCapabilities {
  /** `morpheus plant cloud` may use it (infrastructure.provider must name a provider with cloud: true). */
  cloud: boolean
  /**
   * Nodes are processes of the machine that planted them. The forest records that device, and on
   * another device status/teardown/grow refuse to touch the nodes (teardown --force drops the entry).
   */
  machineLocal: boolean
  /** How many createNode calls may run at once (1: one after another). forest.parallel bounds it too. */
  maxParallel: number
  /** NATS modes the provider can run; forest.nats_mode picks one of them. */
  natsModes: readonly NatsMode[]
}

/** Ports a node listens on. */
export interface NatsPorts {
  client: number
  cluster: number
  monitor: number
}

export interface ReserveRequest {
  forest: ForestRecord
  count: number
  /**
   * Every node record of this provider in the registry: of every forest and every device, including
   * nodes other plants have reserved but not created yet. The only place a provider sees other
   * forests' addresses; choose addresses here, never in createNode (see Provider.reserve).
   */
  existing: readonly NodeRecord[]
  /** ids to give the reserved nodes, chosen by the core. */
  ids: readonly string[]
}

/** Where a node can be reached. Any field given replaces the recorded one. */
export interface NodeAddresses {
  /** The route address (see NodeRecord.ip). */
  ip?: string
  ipv4?: string
  ipv6?: string
  probe_address?: string
  ports?: NatsPorts
  provider_ref?: string
}

/**
 * What reserve() decides before anything is created: identity, and addresses when the provider
 * can choose them itself (local: loopback addresses). A cloud leaves `ip` empty: prepare() or
 * createNode() fills it in.
 */
export interface NodeReservation extends NodeAddresses {
  id: string
  ip: string
}

export interface PrepareRequest {
  forest: ForestRecord
  /** The nodes about to be created (status reserved). */
  nodes: readonly NodeRecord[]
  /** The forest's nodes that exist already (grow). */
  existing: readonly NodeRecord[]
  signal: AbortSignal
  progress(message: string): void
}

export interface PrepareResult {
  /** Addresses allocated before any node exists (e.g. Primary IPs), by node id. Recorded at once. */
  addresses?: Record<string, NodeAddresses>
}

export interface CreateNodeRequest {
  forest: ForestRecord
  /** The node as recorded (status creating), with every address known so far. */
  node: NodeRecord
  /**
   * Every other node of this forest whose route address is known at this moment (existing and being
   * created), read when this call starts: a node created later sees the addresses of nodes created
   * earlier. A node that joins a formed forest routes to all of it. Only this forest: other forests'
   * nodes are in ReserveRequest.existing.
   */
  peers: readonly NodeRecord[]
  /** Whether the node joins a cluster (false only for a forest of one node). */
  cluster: boolean
  /** This node's ports (node.ports, else the forest's). */
  ports: NatsPorts
  natsMode: NatsMode
  /** The forest's route credentials: every node must require them and present them on its routes. */
  clusterAuth: ClusterAuth | null
  /**
   * The versions the node must run (since API 2, optional): the forest's recorded versions (grow,
   * repair) or an upgrade's target. A field left out means the provider's default (its config).
   * A provider that cannot get a version asked for throws PREREQUISITE naming it, before it makes
   * anything.
   */
  versions?: NodeVersions
  /**
   * Since API 2 (optional): the forest's system-account user (system mode), the one user allowed to
   * administer the JetStream cluster (server remove). Rendered into nats.conf (NatsConfigInput
   * system_user); clients without credentials stay in the global account. Null or absent on forests
   * planted before it existed: their nodes must not get one either.
   */
  systemUser?: ClusterAuth | null
  signal: AbortSignal
  progress(message: string): void
  /**
   * Called as soon as the node's addresses are known (e.g. right after the create call returned,
   * before boot finishes), so the core records them at once. Optional to call.
   */
  addressesKnown(addresses: NodeAddresses): void
}

export interface CreatedNode extends NodeAddresses {
  memory_bytes?: number
  /** What the node runs (since API 2, optional; recorded on the node, and on the forest at plant). */
  versions?: NodeVersions
}

/** What `plant --dry-run` asks of a provider for each node: what createNode would make, without making it. */
export type PlanRequest = Omit<CreateNodeRequest, 'signal' | 'progress' | 'addressesKnown'>

export interface NodePlan {
  /** The exact user data createNode would send (cloud providers), or null when the provider sends none. */
  user_data: string | null
  /** Files the node would get, by path (e.g. a local node's nats.conf), when the provider writes them itself. */
  files?: Record<string, string>
  /** Anything else worth showing (server type, location, image...). Never secrets. */
  details?: Record<string, unknown>
}

/**
 * Give a running node a new peer list and cluster flag (grow): the same inputs as createNode,
 * with `peers` the node's full peer list now.
 */
export type ReconfigureRequest = Omit<CreateNodeRequest, 'addressesKnown'>

/**
 * A new machine for an existing node (repair, upgrade): the same id and the same addresses (route
 * address, IPv4/IPv6, ports), so the forest's raft groups see the same server come back and
 * re-sync it (nats-server #3665). `node` is the node as recorded; `peers` every other node;
 * `versions` what the new machine runs (the forest's recorded versions, or an upgrade's target).
 */
export interface ReplaceNodeRequest extends Omit<CreateNodeRequest, 'addressesKnown'> {
  /**
   * The old machine still serves (upgrade): put its NATS server into lame duck mode (it hands off
   * its JetStream leaderships and clients) and let it stop before it is replaced. False (repair):
   * the old machine is dead or gone; remove whatever is left of it.
   */
  graceful: boolean
}

/** A machine as the provider itself sees it (for teardown/convergence). */
export interface ProviderNode {
  id: string
  forest_id: string
  provider_ref: string
  running: boolean
}

/**
 * A way into a node's NATS client port from this machine, where the node does not expose it (system mode
 * listens on 127.0.0.1 only, and the cloud firewall admits SSH and monitoring): e.g. SSH port forwarding.
 */
export interface ClientTunnel {
  /** The client URL to connect to instead of the node's own, e.g. nats://127.0.0.1:40123 */
  url: string
  /** Close the tunnel (idempotent). */
  close(): Promise<void>
}

export interface NodeEndpoints {
  /** Base URL of the NATS monitoring server, e.g. http://127.0.1.1:8222 */
  monitor: string
  /** Client URL, e.g. nats://127.0.1.1:4222 */
  client: string
}

export interface NodeResources {
  memory_bytes?: number
  monthly_price?: Money
}

/** What a plant of `count` nodes would cost, from the provider's own price list (plant shows it before asking). */
export interface CostEstimate {
  /** The whole forest, per month. */
  monthly: Money
  /** One node, per month (server plus its addresses). */
  per_node: Money
  /** What the figure is made of, in words (e.g. "cpx22 in fsn1: 7.05", "Primary IPv4: 0.61"). */
  breakdown?: string[]
}

export interface Money {
  amount: number
  currency: string
}

/** Something the provider made for Morpheus (labelled as Morpheus's) that belongs to no forest in the registry. */
export interface OrphanResource {
  /** The provider's kind of thing: server, primary_ip, firewall, process... */
  kind: string
  /** The provider's id for it (what destroyOrphan needs). */
  id: string
  name: string
  /** The forest it claims to belong to (a label), when it carries one. */
  forest?: string
}

export interface Provider {
  readonly name: string
  /**
   * The NATS mode this provider instance runs nodes in, when its own configuration fixes it
   * (the local provider with nimsforest_binary set runs NimsForest, i.e. embedded). Otherwise
   * the core picks forest.nats_mode (if the provider's capabilities list it) and passes it on.
   */
  readonly natsMode?: NatsMode
  /** Check prerequisites (binaries, credentials) before anything is created. Throws PREREQUISITE with a hint. */
  preflight(signal: AbortSignal): Promise<void>
  /**
   * Pick ids/addresses for new nodes. Called inside the registry's compare-and-swap loop,
   * so it must be pure and fast: it may be called again with a newer `existing`.
   *
   * A provider that chooses addresses itself (a loopback range, a pool of ports) chooses them here,
   * avoiding those of `existing`: the compare-and-swap makes a concurrent plant's reservations part
   * of `existing` before this plant's are written, so two plants never get the same address.
   * createNode sees only its own forest's peers and cannot do that. Addresses the platform assigns
   * (a cloud) are left empty (`ip: ''`) and reported by prepare() or createNode().
   * Something outside the registry holding an address (another program on a port) is found in
   * preflight() and kept for reserve().
   */
  reserve(request: ReserveRequest): NodeReservation[]
  /**
   * Forest-wide set-up before the given nodes are created (a firewall, a network, addresses
   * allocated in advance), at plant and at every grow. Idempotent: a re-run may call it again.
   */
  prepare?(request: PrepareRequest): Promise<PrepareResult | void>
  /**
   * Create and start one node. The core runs up to min(capabilities.maxParallel, forest.parallel) at once.
   *
   * Resolve once the node's own NATS server is up: its monitoring endpoint (endpoints(), else
   * http://<probe_address or ip>:<monitor>) answers GET /varz with 200. The core's wait for the
   * forest to form starts after the last createNode and lasts forest.form_timeout_seconds, so do not
   * return while the machine is still booting; but never wait for routes, /healthz or a JetStream
   * leader either: peers may only be created after this call returns. Report addresses with
   * `addressesKnown` as soon as they exist. When `signal` fires, stop waiting soon: return the node if
   * it exists, else throw (the node is then recorded failed, since it may exist).
   */
  createNode(request: CreateNodeRequest): Promise<CreatedNode>
  /**
   * For `plant --dry-run`: what createNode would make for this node, making nothing. Route
   * passwords in the request are placeholders. Without it the plan shows no user data.
   */
  plan?(request: PlanRequest): Promise<NodePlan>
  /**
   * Give a running node a new peer list (grow). Needed for a one-node forest, which runs without a
   * cluster block; for larger forests gossip spreads a new node, so this is optional.
   */
  reconfigureNode?(request: ReconfigureRequest): Promise<void>
  /**
   * Since API 2, optional (`morpheus repair`, `morpheus upgrade`): replace the machine of an existing
   * node with a new one that keeps the node's id and every address (ReplaceNodeRequest). Resolve, as
   * createNode does, once the new node's NATS server answers /varz; never wait for routes or
   * JetStream. Say what was kept in the result (`versions` above all). Re-runnable: called again
   * after an interruption it finishes the job (an old machine already gone is not an error).
   * Whether JetStream data survives is the provider's: a local node keeps its store directory; a
   * cloud machine starts empty and its replicated streams re-sync from the other nodes.
   */
  replaceNode?(request: ReplaceNodeRequest): Promise<CreatedNode>
  /**
   * Since API 2, optional (`morpheus upgrade`): what a node would run for a version the user named
   * (`--nats 2.11.0`, a local binary's path, `--nimsforest <build>`), checked before any node is
   * touched. Throws PREREQUISITE when it cannot be had here. Without it the core takes the names as
   * given.
   */
  resolveVersions?(request: {natsMode: NatsMode; wanted: NodeVersions; signal: AbortSignal}): Promise<NodeVersions>
  /**
   * Since API 2 (optional): stop a node's NATS server gracefully, keeping the machine: lame duck mode
   * (it stops taking clients, hands its JetStream leaderships over, closes its clients, then exits).
   * Resolve once the server no longer runs. `shrink` calls it before removing the server from the
   * JetStream meta group; without it, shrink uses destroyNode at that point. Idempotent.
   */
  stopNode?(node: NodeRecord, forest: ForestRecord, signal: AbortSignal): Promise<void>
  /**
   * Since API 2 (optional): reach a node's NATS client port from this machine through an authenticated,
   * encrypted tunnel (the Hetzner provider forwards it over SSH), for the JetStream administration that
   * grow, shrink and upgrade do. Without it the core connects to endpoints().client directly (local
   * nodes). Reject with PREREQUISITE (and a hint) when the tunnel cannot be had (no key, SSH refused).
   */
  clientTunnel?(node: NodeRecord, ports: NatsPorts, signal: AbortSignal): Promise<ClientTunnel>
  /** Stop and remove one node. Idempotent: a node that is already gone is not an error. */
  destroyNode(node: NodeRecord, forest: ForestRecord, signal: AbortSignal): Promise<void>
  /** Machines of this forest that exist at the provider, whatever the registry says. */
  listNodes(forestId: string, signal: AbortSignal): Promise<ProviderNode[]>
  /**
   * How to reach a node. Optional: by default the core uses `http://<probe_address or ip>:<monitor>`
   * and `nats://<probe_address or ip>:<client>`, with the node's ports or the forest's.
   */
  endpoints?(node: NodeRecord, ports: NatsPorts): NodeEndpoints
  /** Memory and monthly price of a node (grow shows them). */
  resources?(node: NodeRecord, signal: AbortSignal): Promise<NodeResources>
  /** Forest-wide clean-up after every node is gone (firewalls, networks, addresses). Idempotent. */
  destroyForest?(forest: ForestRecord, signal: AbortSignal): Promise<void>
  /**
   * The monthly cost of a forest of `count` nodes as this provider would create it now. Paid
   * providers should implement it: plant shows it (and --json carries it) before anything is made.
   */
  estimate?(request: {count: number; signal: AbortSignal}): Promise<CostEstimate>
  /**
   * `teardown --orphans`: everything this provider made for Morpheus whose forest is not one of
   * `knownForests` (every forest id in the registry, whatever its provider). Must not return anything
   * it cannot tell was made by Morpheus.
   */
  orphans?(knownForests: readonly string[], signal: AbortSignal): Promise<OrphanResource[]>
  /** Delete one resource that orphans() returned. Idempotent: one already gone is not an error. */
  destroyOrphan?(orphan: OrphanResource, signal: AbortSignal): Promise<void>
}

export type ProviderFactory = (context: PluginContext) => Provider | Promise<Provider>

export interface ProviderDescriptor {
  apiVersion: number
  name: string
  aliases?: readonly string[]
  summary: string
  capabilities: ProviderCapabilities
  /** Schema of `providers.<name>` in the config file. */
  configSchema?: ConfigSchema
  /** Names under `secrets:` in the config that this provider reads (handed over in context.secrets). */
  secrets?: readonly string[]
  /** Absolute path of the plugin's own templates directory (searched after the user's templates.dir). */
  templates?: string
  load(): Promise<ProviderFactory>
}

// ---------------------------------------------------------------------------
// Registry backends
// ---------------------------------------------------------------------------
export interface StoredDocument {
  body: string
  /** Opaque revision (ETag, version id, content hash) for the next conditional write. */
  revision: string
}

export type WriteCondition = {ifRevision: string} | {ifAbsent: true}

export interface RegistryProbe {
  /**
   * How writes are made safe: a native conditional write the probe saw enforced, a lock whose
   * ownership is verified, or not at all. With 'none' the core refuses to write unless the user
   * says `--unsafe` (or registry.unsafe_writes: true).
   */
  concurrency: 'compare-and-swap' | 'lock' | 'none'
  /** Human-readable findings (what the server enforces). */
  notes: string[]
}

export interface RegistryCapabilities {
  /** The document lives off this machine (shared between devices). */
  remote: boolean
}

export interface SecretStore {
  get(forestId: string, name: string): Promise<string | undefined>
  set(forestId: string, name: string, value: string): Promise<void>
  /** Forget every secret of a forest. */
  delete(forestId: string): Promise<void>
}

export interface RevisionInfo {
  revision: string
  /** ISO date. */
  modified: string
  size?: number
}

export interface IoOptions {
  /** Stops this call (the only signal a registry backend stops on; never context.signal). */
  signal?: AbortSignal
}

export interface RegistryBackend {
  /** Where the document lives, for messages. Never contains credentials. */
  readonly location: string
  /** Find out how this store makes writes safe (may write and remove a scratch object). */
  probe(options?: IoOptions): Promise<RegistryProbe>
  /** The stored document, or null when none exists yet. */
  read(options?: IoOptions): Promise<StoredDocument | null>
  /** Write only if the condition holds; otherwise throw an error with code CONFLICT. */
  write(body: string, condition: WriteCondition, options?: IoOptions): Promise<{revision: string}>
  /** Earlier revisions, newest first (backends that keep them). */
  history?(limit: number, options?: IoOptions): Promise<RevisionInfo[]>
  /** One earlier revision's body (for `registry restore`). */
  readRevision?(revision: string, options?: IoOptions): Promise<StoredDocument | null>
  /** Per-forest secrets kept outside the document (route credentials). */
  secrets?: SecretStore
  /**
   * Since API 2 (optional): what a cloud node needs to read the registry document itself, e.g. a
   * read-only network mount of the document's folder. The core renders it into the node's user data
   * generically (a systemd mount unit at /mnt/forest, the files, the packages) and keeps the node's
   * firewall in step with the mounted document. null, or no method: nodes get a registry file
   * written at creation instead (they then learn of no later node). Called only where user data is
   * rendered (plant, grow, plant --dry-run), once per command. Never return the backend's own
   * read-write credentials: whatever is returned goes onto every node.
   */
  nodeAccess?(options?: IoOptions): Promise<NodeAccess | null>
}

/** How a node reaches the registry document (RegistryBackend.nodeAccess). Since API 2. */
export interface NodeAccess {
  /** The document's folder, mounted read-only at /mnt/forest by a systemd mount unit. */
  mount: {
    /** The unit's Description=. */
    description: string
    /** What= (e.g. //host/share/folder). No white space. */
    what: string
    /** Type= (e.g. cifs, nfs4). */
    type: string
    /** Options= (e.g. ro,credentials=/etc/morpheus/x.credentials,_netdev). No white space. */
    options: string
  }
  /** The document's file name inside the mounted folder (a plain name). */
  file: string
  /** Files the mount needs, written before it (e.g. a credentials file); absolute paths under /etc/morpheus/. */
  files?: ReadonlyArray<{path: string; content: string; /** Root-only (0600): it holds a secret. */ secret: boolean}>
  /** Distribution packages the mount needs (e.g. cifs-utils). */
  packages?: readonly string[]
}

/**
 * How a registry set-up asks its questions (RegistrySetupOffer). Answers given up front (the
 * `registry init` flags, by name without the dashes) come first; then a terminal prompt; without a
 * terminal a missing answer is a usage error naming the flag. Implemented by the core.
 */
export interface SetupQuestions {
  /** A person can answer prompts. */
  readonly interactive: boolean
  /** The answer given up front under `name` (e.g. 'box-name'), else undefined. Never asks. */
  given(name: string): string | undefined
  /** The answer given up front, else asked (`message`, with `default` offered). */
  text(name: string, question: {message: string; default?: string}): Promise<string>
  /**
   * A secret for the config file: with `name` given up front (the name of an environment variable
   * that holds it), the reference `${VAR}` the config keeps (the core checks the variable is set);
   * else typed at a masked prompt.
   */
  secret(name: string, question: {message: string}): Promise<string>
}

export interface RegistrySetupRequest {
  /** Which of the offer's choices was picked. */
  choice: string
  /** The plugin's context: its `secrets` are those the offer declares; `config` is empty. */
  context: PluginContext
  questions: SetupQuestions
}

/** What a set-up made: the config section to write, and what to report. */
export interface RegistrySetup {
  /** The `registry` section (with `type`), as the config file keeps it (`${ENV}` references unexpanded). */
  section: Record<string, unknown>
  /** Reported under `setup` in `registry init --json` (e.g. `box`): never secrets. */
  report?: Record<string, unknown>
  /**
   * Called once the new registry answered its probe and holds a document, before the config is
   * written (e.g. to make the nodes' read-only account and keep it in the backend's secret store).
   * `backend` is the new registry (guarded). What it returns is added to the report.
   */
  finish?(backend: RegistryBackend): Promise<Record<string, unknown> | void>
}

/**
 * Since API 2 (optional on RegistryDescriptor): the guided set-up `registry init` (and a first
 * cloud `plant` on a terminal) offers for this backend, e.g. creating a storage server through its
 * vendor's API. The core asks which choice, then loads and runs the set-up, probes the registry it
 * describes, creates the document, calls `finish`, and only then writes the config (mode 0600).
 */
export interface RegistrySetupOffer {
  /** The choices, as `registry init --setup <value>` takes them and the question lists them (`title`). */
  choices: ReadonlyArray<{value: string; title: string}>
  /** Names under `secrets:` in the config the set-up reads (handed over in context.secrets). */
  secrets?: readonly string[]
  /** Imports the set-up only when one of its choices is picked. */
  load(): Promise<(request: RegistrySetupRequest) => Promise<RegistrySetup>>
}

export type RegistryFactory = (context: PluginContext) => RegistryBackend | Promise<RegistryBackend>

export interface RegistryDescriptor {
  apiVersion: number
  name: string
  aliases?: readonly string[]
  summary: string
  capabilities: RegistryCapabilities
  /** Schema of the backend's keys under `registry` (besides `type`). */
  configSchema?: ConfigSchema
  /** Names under `secrets:` in the config that this backend reads (handed over in context.secrets). */
  secrets?: readonly string[]
  /** Since API 2 (optional): a guided set-up for `registry init` (RegistrySetupOffer). */
  setup?: RegistrySetupOffer
  load(): Promise<RegistryFactory>
}

/** What a `morpheus:providers` hook returns. */
export type ProvidersHookResult = ProviderDescriptor[]
/** What a `morpheus:registries` hook returns. */
export type RegistriesHookResult = RegistryDescriptor[]
