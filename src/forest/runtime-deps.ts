import {join} from 'node:path'

import {connectForest} from '../jetstream/connect.js'
import {probeAll} from '../monitor/nats.js'
import {knownProbe} from '../registry/probe-cache.js'
import {RegistryStore} from '../registry/store.js'
import type {Runtime} from '../runtime.js'
import type {ForestDeps, ForestSettings, Progress} from './deps.js'
import {silentProgress} from './deps.js'
import {deviceId} from '../device.js'

/** Is writing to a backend that cannot make writes safe allowed (--unsafe, registry.unsafe_writes, MORPHEUS_UNSAFE_WRITES=1)? */
export function unsafeWrites(runtime: Runtime, flag = false): boolean {
  const section = (runtime.config.values.registry ?? {}) as Record<string, unknown>
  return flag || section.unsafe_writes === true || process.env.MORPHEUS_UNSAFE_WRITES === '1'
}

/** Did the config file set forest.parallel (rather than leave the default)? */
function parallelSet(runtime: Runtime): boolean {
  const forest = runtime.config.raw.forest as Record<string, unknown> | undefined
  return forest?.parallel !== undefined && forest.parallel !== null
}

/** The registry store of one command. */
export async function registryStore(runtime: Runtime, options: {unsafe?: boolean} = {}): Promise<RegistryStore> {
  const {backend} = await runtime.registry()
  return new RegistryStore(backend, {
    log: runtime.log,
    probe: () => knownProbe(backend, runtime.oclif.cacheDir),
    unsafe: unsafeWrites(runtime, options.unsafe),
  })
}

/** The forest engine's dependencies, from the command's runtime: the only place that knows both. */
export async function forestDeps(runtime: Runtime, options: {progress?: Progress; unsafe?: boolean} = {}): Promise<ForestDeps> {
  const store = await registryStore(runtime, options)
  return {
    device: deviceId(),
    jetstream: {connect: connectForest, snapshotDir: join(runtime.oclif.dataDir, 'snapshots')},
    log: runtime.log,
    monitor: (urls, timeoutMs) => probeAll(urls, timeoutMs),
    progress: options.progress ?? silentProgress,
    async provider(name) {
      const {entry, provider} = await runtime.provider(name)
      return {capabilities: entry.descriptor.capabilities, name: entry.descriptor.name, provider}
    },
    // The store's backend is guarded (src/plugins/guard.ts), its secret store with it: a corrupt secrets file is a registry error naming it.
    secrets: store.backend.secrets,
    settings: {...(runtime.config.values.forest as ForestSettings), parallelSet: parallelSet(runtime)},
    signal: runtime.signal,
    store,
  }
}
