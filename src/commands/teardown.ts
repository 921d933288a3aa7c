import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {forgetForestIds} from '../autocomplete/forests-cache.js'
import {MorpheusError} from '../errors.js'
import {forestDeps} from '../forest/runtime-deps.js'
import {findOrphans, removeOrphans, type OrphansResult} from '../forest/orphans.js'
import {teardown, type TeardownResult} from '../forest/teardown.js'
import {findForest} from '../registry/document.js'
import {MorpheusCommand} from '../ui/base-command.js'
import {forestJson, type ForestJson} from '../ui/json-shapes.js'
import {ProgressRelay} from '../ui/progress.js'
import {table} from '../ui/table.js'
import {plural} from '../words.js'

export default class Teardown extends MorpheusCommand {
  static summary = 'Remove a forest: stop and delete every node, then its registry entry.'
  static examples = [
    '<%= config.bin %> teardown forest-1732400000',
    '<%= config.bin %> teardown forest-1732400000 --yes --json',
    {
      command: '<%= config.bin %> teardown forest-1732400000 --force --yes',
      description: "Drop the entry of another device's local forest (its processes keep running there).",
    },
    {
      command: '<%= config.bin %> teardown --orphans --dry-run',
      description: 'List cloud resources labelled managed-by=morpheus that belong to no forest in the registry.',
    },
    {command: '<%= config.bin %> teardown --orphans --yes', description: 'And delete them.'},
  ]
  static args = {
    forest: Args.string({description: 'Forest id (see `morpheus list`); omitted with --orphans.'}),
  }
  static flags = {
    'dry-run': Flags.boolean({dependsOn: ['orphans'], description: 'With --orphans: list what would be deleted, delete nothing.'}),
    orphans: Flags.boolean({
      description: "Delete the cloud provider's resources labelled managed-by=morpheus that belong to no forest in the registry.",
      exclusive: ['force'],
    }),
    provider: Flags.string({
      dependsOn: ['orphans'],
      description: 'With --orphans: the provider to search (default: infrastructure.provider).',
    }),
    force: Flags.boolean({description: "For another device's local forest: remove only the registry entry."}),
    unsafe: Flags.boolean({description: 'Write the registry even if its backend cannot make concurrent writes safe.'}),
    yes: Flags.boolean({char: 'y', description: 'Do not ask for confirmation.'}),
  }

  async run(): Promise<(Omit<TeardownResult, 'forest_id' | 'provider'> & {forest: ForestJson}) | OrphansResult> {
    const {args, flags} = await this.parse(Teardown)
    if (flags.orphans) {
      if (args.forest)
        throw new MorpheusError('USAGE', `--orphans looks for resources of no forest: it takes no forest id (got ${args.forest})`, {
          hint: `Run \`morpheus teardown ${args.forest}\` and \`morpheus teardown --orphans\` separately.`,
        })
      return this.orphans(flags)
    }
    if (!args.forest)
      throw new MorpheusError('USAGE', 'name the forest to remove', {
        hint: 'See `morpheus list` for the ids, or pass --orphans to remove resources of no forest.',
      })
    const relay = new ProgressRelay({fancy: this.fancyProgress, quiet: this.jsonEnabled()})
    const deps = await forestDeps(this.runtime, {progress: relay, unsafe: flags.unsafe})
    const doc = await deps.store.read()
    const forest = findForest(doc, args.forest)
    const count = (doc.nodes[forest.id] ?? []).length
    const ok = await this.confirmOrRefuse({
      hint: 'Pass --yes to confirm.',
      question: `Remove forest ${forest.id} and its ${count} node${count === 1 ? '' : 's'} (${forest.provider})?`,
      refusal: `refusing to remove ${forest.id} (${count} node${count === 1 ? '' : 's'})`,
      yes: flags.yes,
    })
    if (!ok) throw new MorpheusError('USAGE', 'teardown cancelled; nothing was removed')
    let result: TeardownResult | undefined
    // Each step leaves the registry true (a node is dropped only once it is gone), so stopping
    // between any two is safe and a re-run converges.
    const release = this.exitOnInterrupt(
      () =>
        new MorpheusError('INTERRUPTED', `interrupted: ${forest.id} is recorded as tearing_down, with the nodes not yet removed`, {
          hint: `Run \`morpheus teardown ${forest.id} --yes\` again to finish.`,
        }),
    )
    try {
      await relay.run([
        {
          run: async () => {
            result = await teardown(deps, {force: flags.force, forestId: forest.id})
          },
          title: `Removing ${forest.id}`,
        },
      ])
    } finally {
      release()
      forgetForestIds(this.config.cacheDir)
    }
    if (!this.jsonEnabled()) {
      if (result!.entry_only) {
        this.log(`Removed the registry entry of ${forest.id}; its nodes on ${forest.device} were not touched.`)
      } else {
        const extra =
          result!.orphans_removed.length > 0 ? ` and ${plural(result!.orphans_removed.length, 'machine')} the registry did not list` : ''
        this.log(`Removed forest ${forest.id}: ${plural(result!.removed.length, 'node')}${extra}.`)
      }
    }
    // The forest as it was before the teardown (the registry no longer has it).
    const {forest_id: _id, provider: _provider, ...rest} = result!
    return {forest: forestJson(forest), ...rest}
  }

  private async orphans(flags: {'dry-run': boolean; provider?: string; unsafe: boolean; yes: boolean}): Promise<OrphansResult> {
    const relay = new ProgressRelay({fancy: this.fancyProgress, quiet: this.jsonEnabled()})
    const deps = await forestDeps(this.runtime, {progress: relay, unsafe: flags.unsafe})
    const search = await findOrphans(deps, await this.runtime.providerName(flags.provider ?? 'cloud'))
    const {orphans} = search
    const provider = search.handle.name
    const done = (removed: OrphansResult['removed'], dryRun: boolean): OrphansResult => ({dry_run: dryRun, orphans, provider, removed})
    if (!this.jsonEnabled()) {
      if (orphans.length === 0)
        this.log(`No orphaned resources at ${provider}: everything labelled managed-by=morpheus belongs to a forest in the registry.`)
      else
        this.log(
          table(
            ['KIND', 'NAME', 'ID', 'FOREST LABEL'],
            orphans.map((o) => [o.kind, o.name, o.id, o.forest ? `${o.forest} (not in the registry)` : '(none)']),
          ),
        )
    }
    if (orphans.length === 0) return done([], Boolean(flags['dry-run']))
    if (flags['dry-run']) {
      if (!this.jsonEnabled())
        this.log(`\nDry run: nothing deleted. \`morpheus teardown --orphans --yes\` deletes these ${orphans.length}.`)
      return done([], true)
    }
    const ok = await this.confirmOrRefuse({
      hint: 'Pass --yes to confirm, or --dry-run to only list them.',
      question: `Delete these ${orphans.length} resource${orphans.length === 1 ? '' : 's'} at ${provider}?`,
      refusal: `refusing to delete ${orphans.length} orphaned resource${orphans.length === 1 ? '' : 's'} at ${provider}`,
      yes: flags.yes,
    })
    if (!ok) throw new MorpheusError('USAGE', 'cancelled; nothing was deleted')
    let removed: OrphansResult['removed'] = []
    await this.operate(relay, () =>
      relay.run([
        {
          run: async () => void (removed = await removeOrphans(deps, search)),
          title: `Deleting ${orphans.length} orphaned resource${orphans.length === 1 ? '' : 's'} at ${provider}`,
        },
      ]),
    )
    if (!this.jsonEnabled()) this.log(`Deleted ${removed.length} orphaned resource${removed.length === 1 ? '' : 's'} at ${provider}.`)
    return done(removed, false)
  }
}
