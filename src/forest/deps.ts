import type {JetStreamAccess} from '../jetstream/connect.js'
import type {Logger, NatsMode, NatsPorts, Provider, ProviderCapabilities, SecretStore} from '../plugin-api/index.js'
import {guardProvider} from '../plugins/guard.js'
import type {NodeHealth} from '../monitor/nats.js'
import type {RegistryStore} from '../registry/store.js'

/** The forest settings of the core's config (forest.*). */
export interface ForestSettings {
  sizes: Record<string, number>
  form_timeout_seconds: number
  parallel: number
  /** forest.parallel is in the config file (not the default): it bounds a cloud plant too (see createLimit). */
  parallelSet?: boolean
  nats_mode: NatsMode
  ports: NatsPorts
}

/** Progress of an operation: lines within the phase the command shows. Silent once the user interrupted. */
export interface Progress {
  report(message: string): void
}

/** A provider as the engine needs it: the instance, the name forests record, its capabilities. */
export interface ProviderHandle {
  name: string
  provider: Provider
  capabilities: ProviderCapabilities
}

/**
 * What the forest engine works with. Each operation takes exactly this, so it runs the same from
 * a command (src/forest/runtime-deps.ts builds it) and from a unit test (in-memory provider and
 * registry, a fake monitor).
 */
export interface ForestDeps {
  store: RegistryStore
  /** Per-forest secrets kept outside the document (route credentials), when the backend keeps any. */
  secrets?: SecretStore
  settings: ForestSettings
  log: Logger
  /** Fires when the user interrupts (Ctrl-C). */
  signal: AbortSignal
  progress: Progress
  /** This device (recorded on machine-local forests). */
  device: string
  /** Look at nodes' monitoring endpoints (default: HTTP to /healthz and /varz). */
  monitor: (urls: readonly string[], timeoutMs?: number) => Promise<NodeHealth[]>
  /** Time between two looks while waiting for a forest to form (ms). */
  pollMs?: number
  /** Load a provider by the name a forest records (or a name/alias the user typed). */
  provider(name: string): Promise<ProviderHandle>
  /** The forests' JetStream over the nodes' client port (grow of a one-node forest, shrink); absent where there is no NATS (engine unit tests). */
  jetstream?: JetStreamAccess
}

export const silentProgress: Progress = {report() {}}

/**
 * A provider as the engine calls it: `deps.provider(name)`, with every call's error mapped to a
 * MorpheusError naming the provider (src/plugins/guard.ts; a provider guarded already stays as it is).
 */
export async function loadProvider(deps: Pick<ForestDeps, 'provider'>, name: string): Promise<ProviderHandle> {
  const handle = await deps.provider(name)
  return {...handle, provider: guardProvider(handle.provider, handle.name)}
}
