/**
 * `registry migrate`: copy the registry document, and every forest's secrets, to another backend,
 * read the copy back, and only then point the config at it. The old document is left as it was.
 * Everything comes in as arguments, so it runs in a unit test on two in-memory registries.
 */
import {readRawConfig, writeConfig} from '../config/config.js'
import {MorpheusError} from '../errors.js'
import {pluginMessage} from '../plugins/guard.js'
import type {RegistryBackend, RegistryProbe} from '../plugin-api/index.js'
import {plural} from '../words.js'
import {parseDocument, serializeDocument} from './document.js'
import {probeNow} from './probe-cache.js'
import {readRegistry} from './update.js'

export interface MigrateResult {
  from: string
  to: string
  backend: string
  forest_count: number
  node_count: number
  overwrote: boolean
  /** Per-forest secrets (route credentials) copied with the document. */
  secret_count: number
  switched: boolean
  probe: RegistryProbe
}

export interface MigrateRequest {
  /** The registry in use (guarded). */
  source: RegistryBackend
  /** The target (guarded) and its backend's name: opened once the source is known to hold a document. */
  openTarget(): Promise<{backend: RegistryBackend; name: string}>
  /** The target's `registry` section as the config file is to keep it (`${ENV}` references unexpanded). */
  section: Record<string, unknown>
  /** The per-forest secrets to copy, by name (the core's FOREST_SECRET_NAMES). */
  secretNames: readonly string[]
  configPath: string
  /** Where the target's probe is remembered. */
  cacheDir: string
  /** Overwrite a target that holds forests or nodes. */
  force: boolean
  /** Point the config at the target afterwards. */
  switch: boolean
}

export async function migrateRegistry(r: MigrateRequest): Promise<MigrateResult> {
  const {source} = r
  const {doc, revision} = await readRegistry(source)
  if (revision === null)
    throw new MorpheusError('NOT_FOUND', `there is no registry document at ${source.location} to migrate`, {
      hint: 'Point the config at the new backend instead: `morpheus registry init`.',
    })
  const {backend: target, name} = await r.openTarget()
  if (target.location === source.location) throw new MorpheusError('USAGE', `the target is the registry in use (${source.location})`)
  const probe = await probeNow(target, r.cacheDir)
  if (probe.concurrency === 'none') {
    throw new MorpheusError('REGISTRY', `the target ${target.location} cannot keep concurrent writes safe: ${probe.notes.join('; ')}`, {
      hint: 'Choose another target; nothing was copied.',
    })
  }
  const existing = await readRegistry(target)
  const held = Object.keys(existing.doc.forests).length + Object.values(existing.doc.nodes).flat().length
  if (held > 0 && !r.force) {
    throw new MorpheusError(
      'REGISTRY',
      `the target ${target.location} already holds ${plural(Object.keys(existing.doc.forests).length, 'forest')} and ${plural(Object.values(existing.doc.nodes).flat().length, 'node')}; refusing to overwrite it`,
      {
        hint: 'Pass --force to replace it (its current content stays in its history, if the backend keeps one), or choose an empty target.',
      },
    )
  }
  // The forests' secrets (route credentials) go along: without them no node could be added to a
  // forest planted with them. A target that keeps no secrets is refused before anything is copied.
  const secrets: Array<{forest: string; name: string; value: string}> = []
  for (const forest of Object.keys(doc.forests)) {
    for (const name of r.secretNames) {
      const value = await source.secrets?.get(forest, name)
      if (value !== undefined) secrets.push({forest, name, value})
    }
  }
  if (secrets.length > 0 && !target.secrets) {
    throw new MorpheusError(
      'REGISTRY',
      `the target backend ${name} keeps no secrets, and ${plural(new Set(secrets.map((x) => x.forest)).size, 'forest')} ${new Set(secrets.map((x) => x.forest)).size === 1 ? 'has' : 'have'} route credentials that would be lost`,
      {
        hint: 'Choose a backend that keeps secrets (none, storagebox, s3 do); nothing was copied.',
      },
    )
  }
  const body = serializeDocument({...doc, updated_at: new Date().toISOString()})
  await target.write(body, existing.revision === null ? {ifAbsent: true} : {ifRevision: existing.revision})
  // Read the copy back: the config is switched only to a document proven equal to the source.
  const copy = await target.read()
  const copied = copy ? parseDocument(copy.body, target.location) : undefined
  if (!copied || JSON.stringify({f: copied.forests, n: copied.nodes}) !== JSON.stringify({f: doc.forests, n: doc.nodes})) {
    throw new MorpheusError('REGISTRY', `the copy at ${target.location} does not match the source after writing`, {
      hint: `The config still points at ${source.location}; run the command again.`,
    })
  }
  for (const x of secrets) {
    try {
      await target.secrets!.set(x.forest, x.name, x.value)
      if ((await target.secrets!.get(x.forest, x.name)) !== x.value) throw new Error('read back different')
    } catch (error) {
      throw new MorpheusError(
        'REGISTRY',
        `could not copy the secrets of forest ${x.forest} to ${target.location}: ${pluginMessage(error)}`,
        {
          cause: error,
          hint: `The config still points at ${source.location}; run the command again (with --force: the target now holds the copied document).`,
        },
      )
    }
  }
  if (r.switch) {
    const {raw} = readRawConfig(r.configPath)
    raw.registry = r.section
    writeConfig(r.configPath, raw)
  }
  return {
    backend: name,
    forest_count: Object.keys(doc.forests).length,
    from: source.location,
    node_count: Object.values(doc.nodes).flat().length,
    overwrote: held > 0,
    probe,
    secret_count: secrets.length,
    switched: r.switch,
    to: target.location,
  }
}
