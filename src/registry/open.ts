import type {Logger, RegistryBackend} from '../plugin-api/index.js'
import {knownProbe} from './probe-cache.js'
import {RegistryStore, type StoreOptions} from './store.js'

/**
 * The one way the core makes a RegistryStore (Runtime.store() for a command's registry). With
 * `cacheDir`, the store uses the probe remembered there (src/registry/probe-cache: `registry init`'s
 * answer, at most a day old), else it probes before its first write; a backend that cannot make
 * writes safe is refused unless `unsafe`. Reads never probe.
 */
export function openStore(
  backend: RegistryBackend,
  options: {cacheDir?: string; log?: Pick<Logger, 'debug' | 'warn'>; unsafe?: boolean} & Omit<StoreOptions, 'log' | 'unsafe'> = {},
): RegistryStore {
  const {cacheDir, ...rest} = options
  return new RegistryStore(backend, {
    ...rest,
    ...(cacheDir !== undefined && rest.probe === undefined ? {probe: () => knownProbe(backend, cacheDir)} : {}),
  })
}
