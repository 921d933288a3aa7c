// The values shell completion offers for arguments and flags named forest, provider and size.
// Every function resolves to [] on any failure: completion never reports an error.
import type {Config} from '@oclif/core'

import type {Logger} from '../plugin-api/index.js'
import type {ValueKind} from './complete.js'
import {COMPLETABLE_ID, cacheKey, guessConfigPath, readForestIdsCache, writeForestIdsCache} from './forests-cache.js'

const silent: Logger = {debug() {}, info() {}, warn() {}}

/** Names a shell may be offered: nothing it could expand or split. */
const safe = (names: Iterable<string>) => [...new Set(names)].filter((n) => typeof n === 'string' && COMPLETABLE_ID.test(n))

async function runtime(config: Config) {
  const [{Runtime}, {loadConfig}] = await Promise.all([import('../runtime.js'), import('../config/config.js')])
  return new Runtime(config, () => loadConfig(), silent)
}

/**
 * The forest ids in the registry, oldest first. A cache in <cacheDir>/autocomplete/forests answers
 * for FOREST_IDS_TTL_MS, so repeated TABs do not read a remote registry each time.
 */
export async function forestIds(config: Config): Promise<string[]> {
  const cached = readForestIdsCache(config.cacheDir, cacheKey(guessConfigPath()))
  if (cached) return cached
  const rt = await runtime(config)
  const key = cacheKey(rt.config.path)
  const {backend} = await rt.registry()
  const {readRegistry} = await import('../registry/update.js')
  const {doc} = await readRegistry(backend)
  const ids = safe(
    Object.values(doc.forests)
      .sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)))
      .map((f) => f.id),
  )
  writeForestIdsCache(config.cacheDir, key, ids)
  return ids
}

/** Installed providers by name and alias, and `cloud` (the configured cloud provider). */
export async function providerNames(config: Config): Promise<string[]> {
  const catalog = await (await runtime(config)).providers()
  return safe([...catalog.entries.flatMap((e) => [e.descriptor.name, ...(e.descriptor.aliases ?? [])]), 'cloud'])
}

/** Size names: forest.sizes of the config file over the defaults. */
export async function sizeNames(config: Config): Promise<string[]> {
  const rt = await runtime(config)
  const sizes = rt.config.values.forest.sizes
  return safe(
    Object.entries(sizes)
      .sort(([, a], [, b]) => a - b)
      .map(([name]) => name),
  )
}

const SOURCES: Record<ValueKind, (config: Config) => Promise<string[]>> = {forest: forestIds, provider: providerNames, size: sizeNames}

/** The values of one kind, or [] whatever goes wrong. */
export async function valuesOf(config: Config, kind: ValueKind, options: {quiet?: boolean} = {}): Promise<string[]> {
  try {
    return await SOURCES[kind](config)
  } catch (error) {
    // A shell gets nothing; a script asking with --json gets the error.
    if (options.quiet === false) throw error
    return []
  }
}

/** A registry or plugin that does not answer within this time completes nothing rather than hang the shell. */
export const COMPLETION_TIMEOUT_MS = 3000

/** Run `work`; should it take longer than COMPLETION_TIMEOUT_MS, the process exits 0 having printed nothing. */
export async function withinCompletionTime<T>(work: () => Promise<T>): Promise<T> {
  const timer = setTimeout(() => process.exit(0), COMPLETION_TIMEOUT_MS)
  timer.unref()
  try {
    return await work()
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The catch of the commands completion scripts call: nothing for a shell (no message, no stack,
 * exit 0); for a script that asked with --json, the error envelope and its exit code.
 */
export async function completionCatch(error: unknown, json: boolean, commandId?: string): Promise<void> {
  if (!json) return
  const {asMorpheusError, errorEnvelope} = await import('../ui/json.js')
  const e = asMorpheusError(error, commandId)
  process.stdout.write(JSON.stringify(errorEnvelope(e), null, 2) + '\n')
  process.exitCode = e.exitCode
}
