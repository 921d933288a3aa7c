import {Command} from '@oclif/core/command'

import {complete, completionModel} from '../../autocomplete/complete.js'
import {completionCatch, valuesOf, withinCompletionTime} from '../../autocomplete/values.js'

/**
 * What the bash and zsh completion scripts (src/autocomplete/scripts.ts) run on TAB:
 * `morpheus autocomplete:complete -- <words after "morpheus", the last one under the cursor>`.
 * Prints one candidate a line, `value<TAB>description` when there is a description.
 *
 * Like autocomplete:forests it extends oclif's Command, loads the runtime only when a value is
 * asked for (forest ids, providers, sizes), and never reports an error: it prints nothing, exit 0.
 */
export default class AutocompleteComplete extends Command {
  static hidden = true
  static strict = false
  /** --json before `--` (for scripts; the shells never pass it): candidates in the envelope of docs/json.md. */
  static enableJsonFlag = true
  static summary = 'Print what completes a command line (used by shell completion).'

  private json = false

  async run(): Promise<void> {
    // Everything after `--` is the user's command line, never flags of this command.
    const end = this.argv.indexOf('--')
    const own = end === -1 ? [] : this.argv.slice(0, end)
    const words = end === -1 ? this.argv : this.argv.slice(end + 1)
    // Only an explicit --json before `--`, not oclif's jsonEnabled(): that also obeys
    // MORPHEUS_CONTENT_TYPE=json, which would turn every TAB of a shell into JSON.
    this.json = own.includes('--json')
    const model = completionModel(this.config.bin, this.config.commands, this.config.topics)
    const candidates = await withinCompletionTime(() => complete(model, words, (kind) => valuesOf(this.config, kind, {quiet: !this.json})))
    if (this.json) {
      process.stdout.write(
        JSON.stringify(
          {
            candidates: candidates.map((c) => (c.description ? {description: c.description, value: c.value} : {value: c.value})),
            ok: true,
            warnings: [],
          },
          null,
          2,
        ) + '\n',
      )
      return
    }
    const clean = (s: string) => s.replaceAll(/[\t\n\r]/g, ' ')
    const out = candidates.map((c) => (c.description ? `${clean(c.value)}\t${clean(c.description)}` : clean(c.value)))
    if (out.length > 0) process.stdout.write(out.join('\n') + '\n')
  }

  /** Completion must stay quiet: no message, no stack, exit 0 (with --json: the error envelope and its exit code). */
  protected async catch(error: Error): Promise<void> {
    await completionCatch(error, this.json, this.id)
  }
}
