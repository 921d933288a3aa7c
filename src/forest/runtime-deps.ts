import {join} from 'node:path'

import {connectForest} from '../jetstream/connect.js'
import {probeAll} from '../monitor/nats.js'
import type {Runtime} from '../runtime.js'
import type {ForestDeps, ForestSettings, Progress} from './deps.js'
import {silentProgress} from './deps.js'
import {deviceId} from '../device.js'

/** Did the config file set forest.parallel (rather than leave the default)? */
function parallelSet(runtime: Runtime): boolean {
  const forest = runtime.config.raw.forest as Record<string, unknown> | undefined
  return forest?.parallel !== undefined && forest.parallel !== null
}

/**
 * The forest engine's dependencies, from the command's runtime: the only place that knows both.
 * `userData`: the command creates nodes (plant, grow, plant --dry-run), so a cloud provider renders
 * their user data and gets what a node needs to reach the registry (Runtime.provider).
 */
export async function forestDeps(
  runtime: Runtime,
  options: {progress?: Progress; unsafe?: boolean; userData?: boolean} = {},
): Promise<ForestDeps> {
  const store = await runtime.store(options)
  return {
    device: deviceId(),
    jetstream: {connect: connectForest, snapshotDir: join(runtime.oclif.dataDir, 'snapshots')},
    log: runtime.log,
    monitor: (urls, timeoutMs) => probeAll(urls, timeoutMs),
    progress: options.progress ?? silentProgress,
    async provider(name) {
      const {entry, provider} = await runtime.provider(name, {userData: options.userData})
      return {capabilities: entry.descriptor.capabilities, name: entry.descriptor.name, provider}
    },
    // The store's backend is guarded (src/plugins/guard.ts), its secret store with it: a corrupt secrets file is a registry error naming it.
    secrets: store.backend.secrets,
    settings: {...(runtime.config.values.forest as ForestSettings), parallelSet: parallelSet(runtime)},
    signal: runtime.signal,
    store,
  }
}
