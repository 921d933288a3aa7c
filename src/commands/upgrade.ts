import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {MorpheusError} from '../errors.js'
import {forestDeps} from '../forest/runtime-deps.js'
import {Upgrade, type UpgradeResult} from '../forest/upgrade.js'
import {describeVersions} from '../forest/versions.js'
import {MorpheusCommand} from '../ui/base-command.js'
import {forestJson, nodeJson} from '../ui/json-shapes.js'
import {ProgressRelay} from '../ui/progress.js'

export default class UpgradeCommand extends MorpheusCommand {
  static summary = 'Upgrade the NATS server or NimsForest of a forest, one node at a time.'
  static description = `One node after another (the JetStream meta leader last): the node goes into lame duck mode and is replaced in place by the new version (same id and addresses), then the forest must be whole again (/healthz?js-enabled-only=true on the node, every route back, one JetStream leader) and every replicated stream current, before the next node. It stops at the first failure and says which nodes run which version; run it again to go on (nodes that run the new version already are skipped). The forest records its versions, and grow and repair make new nodes of them.

--nats: a nats-server release (system mode). For a local forest it is a nats-server binary: its path, or a version found among providers.local.nats_server, the files of providers.local.nats_server_dir and nats-server-<version> on PATH (each asked for its --version). --nimsforest: a NimsForest build (its download URL on a cloud, the binary's path locally).

On a cloud provider a node's new machine starts with an empty disk, so each R1 stream on a node is moved to another node first (raised to two replicas, the new one current, the node's removed, back to one). It refuses when the forest is not healthy, when a replicated stream is not current, and on a cloud provider when an R1 stream cannot be moved (a one-node forest, a stream outside the global account).`
  static examples = [
    {command: '<%= config.bin %> upgrade forest-1732400000 --nats 2.11.4', description: 'Every node to nats-server 2.11.4 (asks first).'},
    {
      command: '<%= config.bin %> upgrade forest-1732400000 --nats /opt/nats/nats-server-2.11.4 --yes',
      description: 'A local forest: the binary by its path.',
    },
    {
      command: '<%= config.bin %> upgrade forest-1732400000 --nimsforest https://nimsforest.io/bin/nimsforest-1.4.0 --dry-run --json',
      description: 'What it would do, as JSON; nothing changes.',
    },
  ]
  static args = {
    forest: Args.string({description: 'Forest id (see `morpheus list`).', required: true}),
  }
  static flags = {
    nats: Flags.string({description: 'The nats-server to run: a release (2.11.4), locally also a binary path.', exclusive: ['nimsforest']}),
    nimsforest: Flags.string({
      description: 'The NimsForest build to run: a download URL (cloud) or a binary path (local).',
      exclusive: ['nats'],
    }),
    'dry-run': Flags.boolean({description: 'Say which nodes would be upgraded, in which order; change nothing.'}),
    yes: Flags.boolean({char: 'y', description: 'Do not ask for confirmation.'}),
    unsafe: Flags.boolean({description: 'Write the registry even if its backend cannot make concurrent writes safe.'}),
  }

  async run(): Promise<ReturnType<typeof upgradeJson>> {
    const {args, flags} = await this.parse(UpgradeCommand)
    if (!flags.nats && !flags.nimsforest)
      throw new MorpheusError('USAGE', 'name what to upgrade to: --nats <version> or --nimsforest <build>', {
        hint: 'e.g. `morpheus upgrade <forest> --nats 2.11.4`',
      })
    const relay = new ProgressRelay({fancy: this.fancyProgress, quiet: this.jsonEnabled()})
    const deps = await forestDeps(this.runtime, {progress: relay, unsafe: flags.unsafe})
    const settings = (this.runtime.config.values.repair ?? {}) as {streams_timeout_seconds?: number}
    const result = await this.operate(relay, async (runner) => {
      const upgrade = await Upgrade.prepare(deps, {
        confirm: flags['dry-run']
          ? undefined
          : (nodes, target) =>
              this.confirmOrRefuse({
                hint: 'Pass --yes to confirm.',
                question: `Upgrade ${nodes.join(', ')} of ${args.forest} to ${describeVersions(target)}, one at a time?`,
                refusal: `refusing to upgrade ${args.forest}`,
                yes: flags.yes,
              }),
        dryRun: flags['dry-run'],
        forestId: args.forest,
        streamsTimeoutSeconds: settings.streams_timeout_seconds,
        wanted: {...(flags.nats ? {nats: flags.nats} : {}), ...(flags.nimsforest ? {nimsforest: flags.nimsforest} : {})},
      })
      // Up to date or a dry run: nothing to claim. Otherwise the runner drives it.
      return upgrade.early ?? upgrade.outcome(await runner.run(upgrade))
    })
    if (!this.jsonEnabled()) this.log(`${args.forest}: ${result.status}: ${result.message}`)
    return upgradeJson(result)
  }
}

export function upgradeJson(r: UpgradeResult) {
  return {
    forest_id: r.forest.id,
    status: r.status,
    message: r.message,
    target: r.target,
    upgraded: r.upgraded,
    skipped: r.skipped,
    versions_by_node: r.versions_by_node,
    moved: r.moved,
    seconds: r.seconds,
    streams: r.streams,
    forest: forestJson(r.forest),
    nodes: r.nodes.map((n) => nodeJson(n)),
  }
}
