// The short-lived cache behind forest id completion (`morpheus autocomplete:forests`).
// Kept free of heavy imports: it is read on every TAB, and plant/teardown import
// forgetForestIds() to drop it after they change the registry.
import {createHash} from 'node:crypto'
import {mkdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {join, resolve} from 'node:path'

/** How long a cached list of forest ids is used before the registry is read again. */
export const FOREST_IDS_TTL_MS = 60_000

/** Ids the completion scripts may offer: nothing a shell could expand or split. */
export const COMPLETABLE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

interface CacheFile {
  version: 1
  /** Epoch milliseconds when the registry was read. */
  written_at: number
  /** Which configuration the ids were read with (see cacheKey). */
  key: string
  ids: string[]
}

/** `<cacheDir>/autocomplete/forests`. */
export function forestIdsCachePath(cacheDir: string): string {
  return join(cacheDir, 'autocomplete', 'forests')
}

/**
 * Where the config file is, by the rule of configPath() in src/config/config.ts,
 * restated so that a cache hit does not load the config module (js-yaml, schemas).
 * The cache is written with the runtime's own path, so were the two rules ever to
 * differ, the cache would only miss, never answer for the wrong registry.
 */
export function guessConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.MORPHEUS_CONFIG ? resolve(env.MORPHEUS_CONFIG) : join(homedir(), '.morpheus', 'config.yaml')
}

/**
 * The ids depend on which registry the configuration points at: the config file's
 * path and content and HOME (`~` in paths). A change to any of them misses the cache.
 */
export function cacheKey(configPath: string, env: NodeJS.ProcessEnv = process.env): string {
  let text: string | null
  try {
    text = readFileSync(configPath, 'utf8')
  } catch {
    text = null
  }
  return createHash('sha256')
    .update(JSON.stringify([configPath, text, env.HOME ?? '']))
    .digest('hex')
}

/** The cached ids if they were written for `key` less than the TTL ago; otherwise undefined. */
export function readForestIdsCache(cacheDir: string, key: string, now = Date.now()): string[] | undefined {
  try {
    const doc = JSON.parse(readFileSync(forestIdsCachePath(cacheDir), 'utf8')) as Partial<CacheFile>
    if (doc.version !== 1 || doc.key !== key || typeof doc.written_at !== 'number' || !Array.isArray(doc.ids)) return undefined
    const age = now - doc.written_at
    if (age < 0 || age >= FOREST_IDS_TTL_MS) return undefined
    return doc.ids.filter((id): id is string => typeof id === 'string' && COMPLETABLE_ID.test(id))
  } catch {
    return undefined
  }
}

/** Write the cache (mode 0600, atomically: concurrent TABs never see half a file). Failures are ignored. */
export function writeForestIdsCache(cacheDir: string, key: string, ids: string[], now = Date.now()): void {
  const path = forestIdsCachePath(cacheDir)
  const tmp = `${path}.${process.pid}.tmp`
  try {
    mkdirSync(join(cacheDir, 'autocomplete'), {mode: 0o700, recursive: true})
    const doc: CacheFile = {version: 1, written_at: now, key, ids}
    writeFileSync(tmp, JSON.stringify(doc) + '\n', {mode: 0o600})
    renameSync(tmp, path)
  } catch {
    try {
      rmSync(tmp, {force: true})
    } catch {
      // nothing more to do
    }
  }
}

/**
 * Drop the cached forest ids, so the next TAB reads the registry. Call it after a
 * command changed which forests exist (plant, teardown): `forgetForestIds(this.config.cacheDir)`.
 * Never throws.
 */
export function forgetForestIds(cacheDir: string): void {
  try {
    rmSync(forestIdsCachePath(cacheDir), {force: true})
  } catch {
    // Completion is a convenience: a stale list expires with the TTL anyway.
  }
}
