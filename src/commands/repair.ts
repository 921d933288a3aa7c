import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {forestDeps} from '../forest/runtime-deps.js'
import {Repair, type RepairResult} from '../forest/repair.js'
import {MorpheusCommand} from '../ui/base-command.js'
import {forestJson, nodeJson} from '../ui/json-shapes.js'
import {ProgressRelay} from '../ui/progress.js'

export default class RepairCommand extends MorpheusCommand {
  static summary = 'Replace the nodes of a forest that do not answer with new machines of the same id and addresses.'
  static description = `Probes every node's monitoring port (/healthz, /varz). Each node that does not answer gets a new machine with the same node id and the same addresses (the provider's replaceNode: a local node starts again on its ports with its data directory; a Hetzner node is a new server with the node's Primary IPs), so the forest's raft groups see the same server come back and re-sync it. After each node the forest must form again (every route, one JetStream leader); at the end every stream with more than one replica must have all of them current (read from /jsz over plain HTTP).

It refuses when more than half of the nodes do not answer: a fault that large is not a dead node (check the network first). It claims the forest in the registry while it works; Ctrl-C records what is so, and running it again finishes the job.

--auto is for cron: at most one node per run, not within repair.cooldown_minutes of the forest's last repair (recorded in the registry, so several devices share it), never a prompt; a refusal or a cooldown is a status (exit 0), not an error.`
  static examples = [
    {command: '<%= config.bin %> repair forest-1732400000', description: 'Replace every node that does not answer (asks first).'},
    {command: '<%= config.bin %> repair forest-1732400000 --dry-run', description: 'Which nodes would be replaced; nothing changes.'},
    {command: '<%= config.bin %> repair forest-1732400000 --yes --json', description: 'Without a prompt, JSON out.'},
    {
      command: '*/10 * * * * morpheus repair forest-1732400000 --auto --json >> ~/.morpheus/repair.log 2>&1',
      description: 'The crontab line: one node per run at most, with a cooldown.',
    },
  ]
  static args = {
    forest: Args.string({description: 'Forest id (see `morpheus list`).', required: true}),
  }
  static flags = {
    auto: Flags.boolean({
      description: 'For cron: at most one node per run, a cooldown (repair.cooldown_minutes), no prompt; refusals are statuses, exit 0.',
    }),
    'dry-run': Flags.boolean({description: 'Say which nodes would be replaced; change nothing.'}),
    yes: Flags.boolean({char: 'y', description: 'Do not ask for confirmation.'}),
    unsafe: Flags.boolean({description: 'Write the registry even if its backend cannot make concurrent writes safe.'}),
  }

  async run(): Promise<ReturnType<typeof repairJson>> {
    const {args, flags} = await this.parse(RepairCommand)
    const relay = new ProgressRelay({fancy: !flags.auto && this.fancyProgress, quiet: this.jsonEnabled()})
    const deps = await forestDeps(this.runtime, {progress: relay, unsafe: flags.unsafe})
    const settings = (this.runtime.config.values.repair ?? {}) as {cooldown_minutes?: number; streams_timeout_seconds?: number}
    const result = await this.operate(relay, async (runner) => {
      const repair = await Repair.prepare(deps, {
        auto: flags.auto,
        confirm:
          flags.auto || flags['dry-run']
            ? undefined
            : (nodes) =>
                this.confirmOrRefuse({
                  hint: 'Pass --yes to confirm.',
                  question: `Replace ${nodes.join(', ')} of ${args.forest} with new machines (same id and addresses)?`,
                  refusal: `refusing to replace ${nodes.join(', ')}`,
                  yes: flags.yes,
                }),
        cooldownMinutes: settings.cooldown_minutes,
        dryRun: flags['dry-run'],
        forestId: args.forest,
        streamsTimeoutSeconds: settings.streams_timeout_seconds,
      })
      // Healthy, a dry run or a refusal under --auto: nothing to claim. Otherwise the runner drives it.
      return repair.early ?? repair.outcome(await runner.run(repair))
    })
    if (!this.jsonEnabled()) {
      this.log(`${args.forest}: ${result.status}${result.reason ? ` (${result.reason})` : ''}: ${result.message}`)
    }
    return repairJson(result)
  }
}

export function repairJson(r: RepairResult) {
  return {
    forest_id: r.forest.id,
    status: r.status,
    reason: r.reason,
    message: r.message,
    dead: r.dead,
    replaced: r.replaced,
    remaining: r.remaining,
    cooldown_until: r.cooldown_until,
    seconds: r.seconds,
    streams: r.streams,
    forest: forestJson(r.forest),
    nodes: r.nodes.map((n) => nodeJson(n)),
  }
}
