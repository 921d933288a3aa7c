import {Command} from '@oclif/core/command'

import {COMPLETABLE_ID, cacheKey, guessConfigPath, readForestIdsCache, writeForestIdsCache} from '../../autocomplete/forests-cache.js'
import type {Logger} from '../../plugin-api/index.js'

/** A registry that does not answer within this time completes nothing rather than hang the shell. */
const REGISTRY_TIMEOUT_MS = 3000

const silent: Logger = {debug() {}, info() {}, warn() {}}

/**
 * Called by the shell completion scripts (see src/hooks/autocomplete-postrun.ts) on
 * TAB after `morpheus status`, `morpheus teardown`, ...: prints the forest ids, one
 * a line. A cache in <cacheDir>/autocomplete/forests answers for FOREST_IDS_TTL_MS so
 * repeated TABs do not read a remote registry each time.
 *
 * It extends oclif's Command rather than MorpheusCommand on purpose: a cache hit must
 * not load the runtime (config schema, plugin discovery), and it must never report an
 * error: whatever goes wrong, it prints nothing and exits 0.
 */
export default class AutocompleteForests extends Command {
  static hidden = true
  static strict = false
  /** --json for scripts (the shells never pass it); run() prints the envelope itself. */
  static enableJsonFlag = true
  static summary = 'Print the forest ids in the registry, one a line (used by shell completion).'

  async run(): Promise<void> {
    await this.parse(AutocompleteForests)
    const ids = await this.forestIds()
    // --json (for scripts; the shells never pass it): the envelope of docs/json.md.
    if (this.jsonEnabled()) process.stdout.write(JSON.stringify({ok: true, warnings: [], forest_ids: ids}, null, 2) + '\n')
    else if (ids.length > 0) process.stdout.write(ids.join('\n') + '\n')
  }

  private async forestIds(): Promise<string[]> {
    const cached = readForestIdsCache(this.config.cacheDir, cacheKey(guessConfigPath()))
    if (cached) return cached

    const timer = setTimeout(() => process.exit(0), REGISTRY_TIMEOUT_MS)
    timer.unref()
    try {
      const [{Runtime}, {readRegistry}] = await Promise.all([import('../../runtime.js'), import('../../registry/update.js')])
      const runtime = new Runtime(this.config, silent)
      const key = cacheKey(runtime.config.path)
      const {backend} = await runtime.registry()
      const {doc} = await readRegistry(backend)
      const ids = Object.values(doc.forests)
        .sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)))
        .map((f) => f.id)
        .filter((id) => typeof id === 'string' && COMPLETABLE_ID.test(id))
      writeForestIdsCache(this.config.cacheDir, key, ids)
      return ids
    } finally {
      clearTimeout(timer)
    }
  }

  /** Completion must stay quiet: no message, no stack, exit 0 (with --json: the error envelope and its exit code). */
  protected async catch(error: Error): Promise<void> {
    if (!this.jsonEnabled()) return
    const {asMorpheusError, errorEnvelope} = await import('../../ui/json.js')
    const e = asMorpheusError(error, this.id)
    process.stdout.write(JSON.stringify(errorEnvelope(e), null, 2) + '\n')
    process.exitCode = e.exitCode
  }
}
