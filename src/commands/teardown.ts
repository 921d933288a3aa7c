import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {forgetForestIds} from '../autocomplete/forests-cache.js'
import {MorpheusError} from '../errors.js'
import {forestDeps} from '../forest/runtime-deps.js'
import {teardown, type TeardownResult} from '../forest/teardown.js'
import {findForest} from '../registry/document.js'
import {MorpheusCommand} from '../ui/base-command.js'
import {ProgressRelay} from '../ui/progress.js'

export default class Teardown extends MorpheusCommand {
  static summary = 'Remove a forest: stop and delete every node, then its registry entry'
  static examples = [
    '<%= config.bin %> teardown forest-1732400000',
    '<%= config.bin %> teardown forest-1732400000 --yes --json',
    {command: '<%= config.bin %> teardown forest-1732400000 --force --yes', description: "drop the entry of another device's local forest (its processes keep running there)"},
  ]
  static args = {
    forest: Args.string({description: 'forest id (see `morpheus list`)', required: true}),
  }
  static flags = {
    force: Flags.boolean({description: "for another device's local forest: remove only the registry entry"}),
    unsafe: Flags.boolean({description: 'write the registry even if its backend cannot make concurrent writes safe'}),
    yes: Flags.boolean({char: 'y', description: 'do not ask for confirmation'}),
  }

  async run(): Promise<TeardownResult> {
    const {args, flags} = await this.parse(Teardown)
    const relay = new ProgressRelay({fancy: this.fancyProgress, quiet: this.jsonEnabled()})
    const deps = await forestDeps(this.runtime, {progress: relay, unsafe: flags.unsafe})
    const doc = await deps.store.read()
    const forest = findForest(doc, args.forest)
    const count = (doc.nodes[forest.id] ?? []).length
    if (!flags.yes) {
      if (!this.interactive) {
        throw new MorpheusError('USAGE', `refusing to remove ${forest.id} (${count} node${count === 1 ? '' : 's'}) without confirmation: stdin is not a terminal`, {hint: 'Pass --yes to confirm.'})
      }
      const {confirm} = await import('@inquirer/prompts')
      const ok = await confirm({default: false, message: `Remove forest ${forest.id} and its ${count} node${count === 1 ? '' : 's'} (${forest.provider})?`})
      if (!ok) throw new MorpheusError('USAGE', 'teardown cancelled; nothing was removed')
    }
    let result: TeardownResult | undefined
    // Each step leaves the registry true (a node is dropped only once it is gone), so stopping
    // between any two is safe and a re-run converges.
    const release = this.exitOnInterrupt(() => new MorpheusError('INTERRUPTED', `interrupted: ${forest.id} is recorded as tearing_down, with the nodes not yet removed`, {
      hint: `Run \`morpheus teardown ${forest.id} --yes\` again to finish.`,
    }))
    try {
      await relay.run([{run: async () => {
        result = await teardown(deps, {force: flags.force, forestId: forest.id})
      }, title: `Removing ${forest.id}`}])
    } finally {
      release()
      forgetForestIds(this.config.cacheDir)
    }
    if (!this.jsonEnabled()) {
      if (result!.entry_only) {
        this.log(`Removed the registry entry of ${forest.id}; its nodes on ${forest.device} were not touched.`)
      } else {
        const extra = result!.orphans_removed.length > 0 ? ` and ${result!.orphans_removed.length} machine(s) the registry did not list` : ''
        this.log(`Removed forest ${forest.id}: ${result!.removed.length} node(s)${extra}.`)
      }
    }
    return result!
  }
}
