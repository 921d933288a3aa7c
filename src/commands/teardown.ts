import {Args, Flags} from '@oclif/core'

import {forgetForestIds} from '../autocomplete/forests-cache.js'
import {MorpheusError} from '../errors.js'
import {teardown, type TeardownResult} from '../forest/teardown.js'
import {findForest} from '../registry/document.js'
import {readRegistry} from '../registry/update.js'
import {MorpheusCommand} from '../ui/base-command.js'
import {runPhases} from '../ui/progress.js'

export default class Teardown extends MorpheusCommand {
  static summary = 'Remove a forest: stop and delete every node, then its registry entry'
  static examples = ['<%= config.bin %> teardown forest-1732400000', '<%= config.bin %> teardown forest-1732400000 --yes --json']
  static args = {
    forest: Args.string({description: 'forest id (see `morpheus list`)', required: true}),
  }
  static flags = {
    yes: Flags.boolean({char: 'y', description: 'do not ask for confirmation'}),
  }

  async run(): Promise<TeardownResult> {
    const {args, flags} = await this.parse(Teardown)
    const {backend} = await this.runtime.registry()
    const {doc} = await readRegistry(backend)
    const forest = findForest(doc, args.forest)
    const count = (doc.nodes[forest.id] ?? []).length
    if (!flags.yes) {
      if (!this.interactive) {
        throw new MorpheusError('USAGE', `refusing to remove ${forest.id} (${count} nodes) without confirmation: stdin is not a terminal`, {hint: 'Pass --yes to confirm.'})
      }
      const {confirm} = await import('@inquirer/prompts')
      const ok = await confirm({default: false, message: `Remove forest ${forest.id} and its ${count} node${count === 1 ? '' : 's'} (${forest.provider})?`})
      if (!ok) throw new MorpheusError('USAGE', 'teardown cancelled; nothing was removed')
    }
    let result: TeardownResult | undefined
    const release = this.exitOnInterrupt(() => new MorpheusError('INTERRUPTED', `interrupted: ${forest.id} is recorded as tearing_down, with the nodes not yet removed`, {
      hint: `Run \`morpheus teardown ${forest.id} --yes\` again to finish.`,
    }))
    await runPhases([{run: async (report) => {
      try {
        result = await teardown(this.runtime, forest.id, report)
      } finally {
        forgetForestIds(this.config.cacheDir)
      }
    }, title: `Removing ${forest.id}`}], {fancy: this.fancyProgress, quiet: this.jsonEnabled()}).finally(release)
    if (!this.jsonEnabled()) {
      const extra = result!.orphans_removed.length > 0 ? ` and ${result!.orphans_removed.length} machine(s) the registry did not list` : ''
      this.log(`Removed forest ${forest.id}: ${result!.removed.length} node(s)${extra}.`)
    }
    return result!
  }
}
