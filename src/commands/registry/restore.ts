import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {MorpheusError} from '../../errors.js'
import {parseDocument} from '../../registry/document.js'
import {MorpheusCommand} from '../../ui/base-command.js'
import {plural} from '../../words.js'

export default class RegistryRestore extends MorpheusCommand {
  static summary = 'Make an earlier revision of the registry document the current one (the current one is kept in the history).'
  static examples = ['<%= config.bin %> registry restore 20261124T031820102Z-f3e0792e105e --yes']
  static args = {
    revision: Args.string({description: 'A revision from `morpheus registry history`.', required: true}),
  }
  static flags = {
    yes: Flags.boolean({char: 'y', description: 'Do not ask for confirmation.'}),
  }

  async run(): Promise<{location: string; restored: string; forest_count: number; node_count: number}> {
    const {args, flags} = await this.parse(RegistryRestore)
    const {backend, entry} = await this.runtime.registry()
    if (!backend.readRevision)
      throw new MorpheusError('REGISTRY', `the registry backend "${entry.descriptor.name}" keeps no history to restore from`)
    const stored = await backend.readRevision(args.revision, {signal: this.runtime.signal})
    if (!stored)
      throw new MorpheusError('NOT_FOUND', `no revision "${args.revision}" at ${backend.location}`, {
        hint: 'See `morpheus registry history` for the revisions kept.',
      })
    // A revision that is not a sound document is never restored.
    const old = parseDocument(stored.body, `${backend.location} (revision ${args.revision})`)
    const ok = await this.confirmOrRefuse({
      hint: 'Pass --yes to confirm.',
      question: `Replace the registry with revision ${args.revision} (${Object.keys(old.forests).length} forests)?`,
      refusal: `refusing to replace the registry at ${backend.location}`,
      yes: flags.yes,
    })
    if (!ok) throw new MorpheusError('USAGE', 'restore cancelled; nothing was changed')
    // Through the command's store: the remembered probe, and registry.unsafe_writes, as for every write.
    await (
      await this.runtime.store()
    ).update(
      (doc) => {
        doc.forests = old.forests
        doc.nodes = old.nodes
      },
      {now: true},
    )
    const result = {
      forest_count: Object.keys(old.forests).length,
      location: backend.location,
      node_count: Object.values(old.nodes).flat().length,
      restored: args.revision,
    }
    if (!this.jsonEnabled())
      this.log(
        `Restored revision ${args.revision} at ${backend.location}: ${plural(result.forest_count, 'forest')}, ${plural(result.node_count, 'node')}. The replaced document is in the history.`,
      )
    return result
  }
}
