/**
 * Where the core calls a plugin. Every plugin object the core obtains (a provider, a registry
 * backend, a backend's secret store) is wrapped once, when the core obtains it, so that whatever
 * it throws becomes a MorpheusError naming the plugin: code that uses plugins calls them without
 * mapping errors itself.
 *
 * The mapped error keeps what the core inspects: the plugin's `code` (CONFLICT, NOT_FOUND, ...),
 * `transient`, and the original error (its `cause`, and `pluginMessage()` for the plugin's own
 * words where a warning quotes them). An abort is mapped like any other failure, as before:
 * the callers that care look at their AbortSignal, which stays the only sign of Ctrl-C.
 */
import {MorpheusError, type ExitCodeName} from '../errors.js'
import {systemErrorOf, toFsError} from '../fs-errors.js'
import type {Provider, RegistryBackend, SecretStore} from '../plugin-api/index.js'

/**
 * Codes whose meaning does not depend on who threw them. Every other code (AUTH, FAILED,
 * PREREQUISITE, UNREACHABLE, UNSUPPORTED, or none) takes the kind of the plugin that threw it:
 * a provider's unreachable API exits 5, a registry's unreachable server exits 4.
 */
const pluginCodeToKind: Record<string, ExitCodeName> = {
  CONFIG: 'CONFIG',
  CONFLICT: 'REGISTRY',
  LOCKED: 'REGISTRY',
  NOT_FOUND: 'NOT_FOUND',
}

/** Turn whatever a plugin threw into a MorpheusError, naming the plugin; `side` is the kind of plugin (PROVIDER, REGISTRY). */
export function fromPluginError(error: unknown, plugin: string, side: ExitCodeName): MorpheusError {
  if (error instanceof MorpheusError) return error
  const e = error as {code?: string; message?: string; hint?: string}
  // A file the plugin could not use (thrown as it is, or wrapped as the cause of the plugin's own
  // error, whose message then says what it was doing): exit 10, the reason in words and a hint.
  const sys = systemErrorOf(error)
  if (sys)
    return toFsError(error, {
      hint: e?.hint,
      prefix: plugin,
      ...(sys === error || typeof e?.message !== 'string' ? {} : {doing: e.message}),
    })!
  const kind = (typeof e?.code === 'string' && Object.hasOwn(pluginCodeToKind, e.code) && pluginCodeToKind[e.code]) || side
  const message = e?.message ?? String(error)
  return new MorpheusError(kind, `${plugin}: ${message}`, {cause: error, hint: e?.hint})
}

/** What a plugin threw, by the error the core made of it. */
const originals = new WeakMap<MorpheusError, unknown>()

/** fromPluginError, keeping the plugin's `code`, `transient` and the original (see pluginMessage). */
function mapped(error: unknown, plugin: string, side: ExitCodeName): MorpheusError {
  if (error instanceof MorpheusError) return error
  const e = fromPluginError(error, plugin, side)
  originals.set(e, error)
  const {code, transient} = (error ?? {}) as {code?: unknown; transient?: unknown}
  if (typeof code === 'string') Object.assign(e, {code})
  if (transient === true) Object.assign(e, {transient})
  return e
}

/** The plugin's own error behind a mapped one (else the error itself). */
export function originalError(error: unknown): unknown {
  return error instanceof MorpheusError && originals.has(error) ? originals.get(error) : error
}

/** The plugin's own message, without the plugin's name the core put before it: for warnings that quote it. */
export function pluginMessage(error: unknown): string {
  return (originalError(error) as Error).message
}

/** Run one plugin call (sync or async), mapping what it throws or rejects with; `plugin` names it (worked out only on failure). */
function call<R>(work: () => R, plugin: string | (() => string), side: ExitCodeName): R {
  const name = () => (typeof plugin === 'string' ? plugin : plugin())
  let result: R
  try {
    result = work()
  } catch (error) {
    throw mapped(error, name(), side)
  }
  if (result && typeof (result as {then?: unknown}).then === 'function') {
    return Promise.resolve(result).catch((error: unknown) => {
      throw mapped(error, name(), side)
    }) as R
  }
  return result
}

const GUARDED = Symbol('morpheus.guarded')

function isGuarded(value: object): boolean {
  return (value as {[GUARDED]?: boolean})[GUARDED] === true
}

type ProviderMethod = Exclude<keyof Provider, 'name' | 'natsMode'>

/**
 * What each provider method's errors are named after `provider <name>`: the node's id for calls about
 * one node. Every method of the contract is listed (a method added to Provider and not here does not
 * compile), so the guard never hides one.
 */
const providerCalls: {[K in ProviderMethod]-?: (...args: Parameters<NonNullable<Provider[K]>>) => string} = {
  clientTunnel: (node) => `: ${node.id}`,
  createNode: (request) => `: ${request.node.id}`,
  destroyForest: () => '',
  destroyNode: (node) => `: ${node.id}`,
  destroyOrphan: () => '',
  endpoints: (node) => `: ${node.id}`,
  estimate: () => ': cost estimate',
  listNodes: () => '',
  orphans: () => '',
  plan: (request) => `: ${request.node.id}`,
  preflight: () => '',
  prepare: () => '',
  reconfigureNode: (request) => `: ${request.node.id}`,
  replaceNode: (request) => `: ${request.node.id}`,
  reserve: () => '',
  resolveVersions: () => ': versions',
  resources: (node) => `: ${node.id}`,
  stopNode: (node) => `: ${node.id}`,
}

/**
 * A provider whose calls throw MorpheusErrors named `provider <name>` (with the node's id for
 * calls about one node, "cost estimate" for estimate). Optional methods stay absent when the
 * provider has none. Wrapping a wrapped provider returns it as it is.
 */
export function guardProvider(provider: Provider, name: string): Provider {
  if (isGuarded(provider)) return provider
  const at = `provider ${name}`
  const guarded: Record<string | symbol, unknown> = {[GUARDED]: true}
  Object.defineProperty(guarded, 'name', {enumerable: true, get: () => provider.name})
  Object.defineProperty(guarded, 'natsMode', {enumerable: true, get: () => provider.natsMode})
  for (const [method, where] of Object.entries(providerCalls) as Array<[ProviderMethod, (...args: unknown[]) => string]>) {
    const fn = provider[method] as ((...args: unknown[]) => unknown) | undefined
    if (typeof fn !== 'function') continue
    guarded[method] = (...args: unknown[]) =>
      call(
        () => fn.apply(provider, args),
        () => `${at}${where(...args)}`,
        'PROVIDER',
      )
  }
  return guarded as unknown as Provider
}

/** A backend's secret store whose calls throw REGISTRY errors named `registry <location>: secrets`. */
export function guardSecrets(store: SecretStore, location: string): SecretStore {
  if (isGuarded(store)) return store
  const at = `registry ${location}: secrets`
  const guarded: SecretStore & {[GUARDED]: true} = {
    [GUARDED]: true,
    delete: (forestId) => call(() => store.delete(forestId), at, 'REGISTRY'),
    get: (forestId, name) => call(() => store.get(forestId, name), at, 'REGISTRY'),
    set: (forestId, name, value) => call(() => store.set(forestId, name, value), at, 'REGISTRY'),
  }
  return guarded
}

/**
 * A registry backend whose calls throw REGISTRY errors named `registry <location>` (`: probe` for
 * its probe), and whose secret store is guarded too. Wrapping a wrapped backend returns it as it is.
 */
export function guardBackend(backend: RegistryBackend): RegistryBackend {
  if (isGuarded(backend)) return backend
  const b = backend
  const at = () => `registry ${b.location}`
  const secrets = b.secrets ? guardSecrets(b.secrets, b.location) : undefined
  const guarded: RegistryBackend & {[GUARDED]: true} = {
    [GUARDED]: true,
    get location() {
      return b.location
    },
    probe: (options) => call(() => b.probe(options), `${at()}: probe`, 'REGISTRY'),
    read: (options) => call(() => b.read(options), at(), 'REGISTRY'),
    write: (body, condition, options) => call(() => b.write(body, condition, options), at(), 'REGISTRY'),
    ...(b.history
      ? {
          history: (limit: number, options?: Parameters<NonNullable<RegistryBackend['history']>>[1]) =>
            call(() => b.history!(limit, options), at(), 'REGISTRY'),
        }
      : {}),
    ...(b.readRevision
      ? {
          readRevision: (revision: string, options?: Parameters<NonNullable<RegistryBackend['readRevision']>>[1]) =>
            call(() => b.readRevision!(revision, options), at(), 'REGISTRY'),
        }
      : {}),
    ...(b.nodeAccess
      ? {
          nodeAccess: (options?: Parameters<NonNullable<RegistryBackend['nodeAccess']>>[0]) =>
            call(() => b.nodeAccess!(options), `${at()}: node access`, 'REGISTRY'),
        }
      : {}),
    ...(secrets ? {secrets} : {}),
  }
  return guarded
}
