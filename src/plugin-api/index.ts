/**
 * The plugin contract of Morpheus, exported as `morpheus/plugin-api`.
 *
 * A plugin is an npm package with an oclif hook for `morpheus:providers` or
 * `morpheus:registries`. The hook returns descriptors: small objects with a
 * name, a summary, capabilities and an async `load()` that imports the heavy
 * implementation only when a command needs it.
 *
 * Plugins import *types* from here (`import type {...} from 'morpheus/plugin-api'`).
 * Everything a plugin needs at run time (template rendering, logging, errors,
 * cancellation) reaches it through the context object the core passes to
 * `load()`'s factory, so a plugin never depends on the core's internals or on
 * the core being resolvable from the plugin's own directory.
 */

/** Version of this contract. A descriptor whose apiVersion differs is refused with a clear message. */
export const PLUGIN_API_VERSION = 1

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
  | 'FAILED' // anything else that went wrong in the plugin

export interface PluginErrorShape extends Error {
  code: PluginErrorCode
  /** One line telling the user what to do about it. Never contains a secret. */
  hint?: string
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
// Registry document v1 (the shape NimsForest reads: nodes{forest_id: [...]})
// ---------------------------------------------------------------------------
export type ForestStatus = 'planting' | 'active' | 'failed' | 'interrupted' | 'tearing_down'
export type NodeStatus = 'creating' | 'starting' | 'active' | 'failed' | 'deleting'

export interface ForestRecord {
  id: string
  provider: string
  size: string
  status: ForestStatus
  created_at: string
  last_expansion: string | null
  /** Desired node count when planted. */
  node_count: number
  location?: string
  /** `embedded` (NimsForest embeds NATS) or `system` (separate nats-server). */
  nats_mode?: NatsMode
  /** Free-form details recorded by the core (never secrets). */
  note?: string
}

export interface NodeRecord {
  id: string
  /** Address other nodes and Morpheus use to reach this node (IPv6 preferred on cloud nodes). */
  ip: string
  ipv6?: string
  ipv4?: string
  forest_id: string
  role: string
  status: NodeStatus
  created_at: string
  /** The provider's own handle for the node (a server id, a directory, ...). */
  provider_ref?: string
  /** Memory of the machine, when the provider knows it (for load percentages). */
  memory_bytes?: number
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
  /** Render `templates/<name>.hbs` with the core's helpers and partials. */
  render(name: string, data: Record<string, unknown>): string
  /** Names of the templates the core ships. */
  list(): string[]
  /** nats.conf for one node, from `templates/nats.conf.hbs` (routes to every peer, own address advertised). */
  natsConfig(input: NatsConfigInput): string
}

export interface NatsConfigInput {
  forest: Pick<ForestRecord, 'id'>
  node: Pick<NodeRecord, 'id' | 'ip'>
  peers: ReadonlyArray<Pick<NodeRecord, 'ip'>>
  ports: NatsPorts
  /** Where the servers listen: the node's own address locally, 0.0.0.0 / :: on a cloud node. */
  bind: {client: string; cluster: string; monitor: string}
  files: {store_dir: string; pid?: string | null; log?: string | null}
  cluster_auth?: {user: string; password: string} | null
  jetstream?: {max_memory?: string | null; max_file?: string | null}
}

export interface PluginContext {
  /** The plugin's config section, `${ENV}`-expanded and validated against its configSchema. */
  config: Record<string, unknown>
  /** Directory holding the config file (relative paths in config resolve from here). */
  configDir: string
  /** A path from the config as the core reads paths: `~` is the home directory, relative paths start at configDir. */
  resolvePath(value: string): string
  /** Morpheus's per-user data directory (oclif's dataDir). */
  dataDir: string
  templates: TemplateRenderer
  log: Logger
  /** The ports every node listens on (forest.ports). */
  ports: NatsPorts
  /** Build an error the core maps to a stable exit code. */
  error(code: PluginErrorCode, message: string, hint?: string): PluginErrorShape
}

// ---------------------------------------------------------------------------
// Providers
// ---------------------------------------------------------------------------
export type NatsMode = 'embedded' | 'system'

export interface ProviderCapabilities {
  /** Counts as a cloud provider for `morpheus plant cloud`. */
  cloud: boolean
  /** Nodes can be created concurrently; maxParallel bounds it. */
  parallelCreate: boolean
  maxParallel?: number
  /** Can list a forest's machines from the provider itself (labels, directories). */
  listByForest: boolean
  /** Reports each node's monthly price. */
  pricing: boolean
  /** Manages a cloud firewall for the forest. */
  firewall: boolean
  natsModes: readonly NatsMode[]
}

/** Ports a node listens on; the same on every node, cloud or local. */
export interface NatsPorts {
  client: number
  cluster: number
  monitor: number
}

export interface ReserveRequest {
  forest: ForestRecord
  count: number
  /** Every node record this provider already has in the registry, across forests. */
  existing: readonly NodeRecord[]
  /** ids to give the reserved nodes, chosen by the core. */
  ids: readonly string[]
}

/** What reserve() decides before anything is created: identity and (when known) address. */
export interface NodeReservation {
  id: string
  ip: string
  ipv4?: string
  ipv6?: string
  provider_ref?: string
}

export interface CreateNodeRequest {
  forest: ForestRecord
  node: NodeRecord
  /** Every other node of the forest this node should route to (existing and being created). */
  peers: readonly NodeRecord[]
  ports: NatsPorts
  natsMode: NatsMode
  signal: AbortSignal
  progress(message: string): void
}

export interface CreatedNode {
  ip: string
  ipv4?: string
  ipv6?: string
  provider_ref?: string
  memory_bytes?: number
}

/** A machine as the provider itself sees it (for teardown/convergence). */
export interface ProviderNode {
  id: string
  forest_id: string
  provider_ref: string
  running: boolean
}

export interface NodeEndpoints {
  /** Base URL of the NATS monitoring server, e.g. http://127.0.1.1:8222 */
  monitor: string
  /** Client URL, e.g. nats://127.0.1.1:4222 */
  client: string
}

export interface NodeResources {
  memory_bytes?: number
  monthly_price?: {amount: number; currency: string}
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
  preflight(): Promise<void>
  /**
   * Pick ids/addresses for new nodes. Called inside the registry's compare-and-swap loop,
   * so it must be pure and fast: it may be called again with a newer `existing`.
   */
  reserve(request: ReserveRequest): NodeReservation[]
  /**
   * Forest-wide set-up before any node is created (a cloud firewall, a network), after the forest
   * and its nodes are claimed in the registry. Must be idempotent: a re-run may call it again.
   */
  prepareForest?(forest: ForestRecord, nodes: readonly NodeRecord[]): Promise<void>
  /** Create and start one node. The core runs several at once when capabilities allow. */
  createNode(request: CreateNodeRequest): Promise<CreatedNode>
  /** Stop and remove one node. Idempotent: a node that is already gone is not an error. */
  destroyNode(node: NodeRecord, forest: ForestRecord): Promise<void>
  /** Machines of this forest that exist at the provider, whatever the registry says. */
  listNodes(forestId: string): Promise<ProviderNode[]>
  endpoints(node: NodeRecord, ports: NatsPorts): NodeEndpoints
  resources?(node: NodeRecord): Promise<NodeResources>
  /** Forest-wide clean-up after every node is gone (firewalls, networks). */
  destroyForest?(forest: ForestRecord): Promise<void>
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
  /** How writes are made safe: a native conditional write, a verifiable lock, or not at all. */
  concurrency: 'compare-and-swap' | 'lock' | 'none'
  /** Human-readable findings (what the server enforces). */
  notes: string[]
}

export interface RegistryCapabilities {
  /** The document lives off this machine (shared between devices). */
  remote: boolean
  history: boolean
  secrets: boolean
}

export interface SecretStore {
  get(forestId: string, name: string): Promise<string | undefined>
  set(forestId: string, name: string, value: string): Promise<void>
  delete(forestId: string): Promise<void>
}

export interface RegistryBackend {
  /** Where the document lives, for messages. Never contains credentials. */
  readonly location: string
  probe(): Promise<RegistryProbe>
  /** The stored document, or null when none exists yet. */
  read(): Promise<StoredDocument | null>
  /** Write only if the condition holds; otherwise throw an error with code CONFLICT. */
  write(body: string, condition: WriteCondition): Promise<{revision: string}>
  /** Earlier revisions, newest first (backends with the history capability). */
  history?(limit: number): Promise<Array<{revision: string; modified: string}>>
  /** Per-forest secrets kept outside the document (backends with the secrets capability). */
  secrets?: SecretStore
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
  load(): Promise<RegistryFactory>
}

/** What a `morpheus:providers` hook returns. */
export type ProvidersHookResult = ProviderDescriptor[]
/** What a `morpheus:registries` hook returns. */
export type RegistriesHookResult = RegistryDescriptor[]

