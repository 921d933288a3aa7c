import {Command} from '@oclif/core/command'

import {completionCatch, forestIds, withinCompletionTime} from '../../autocomplete/values.js'

/**
 * Prints the forest ids in the registry, one a line (the values shell completion offers for a
 * `forest` argument; see src/autocomplete/values.ts for the cache).
 *
 * It extends oclif's Command rather than MorpheusCommand on purpose: a cache hit must not load the
 * runtime (config schema, plugin discovery), and it must never report an error: whatever goes
 * wrong, it prints nothing and exits 0.
 */
export default class AutocompleteForests extends Command {
  static hidden = true
  static strict = false
  /** --json for scripts (the shells never pass it); run() prints the envelope itself. */
  static enableJsonFlag = true
  static summary = 'Print the forest ids in the registry, one a line (used by shell completion).'

  async run(): Promise<void> {
    await this.parse(AutocompleteForests)
    const ids = await withinCompletionTime(() => forestIds(this.config))
    // --json (for scripts; the shells never pass it): the envelope of docs/json.md.
    if (this.jsonEnabled()) process.stdout.write(JSON.stringify({ok: true, warnings: [], forest_ids: ids}, null, 2) + '\n')
    else if (ids.length > 0) process.stdout.write(ids.join('\n') + '\n')
  }

  /** Completion must stay quiet: no message, no stack, exit 0 (with --json: the error envelope and its exit code). */
  protected async catch(error: Error): Promise<void> {
    await completionCatch(error, this.jsonEnabled(), this.id)
  }
}
