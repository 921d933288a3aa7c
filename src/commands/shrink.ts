import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {MorpheusError} from '../errors.js'
import {forestDeps} from '../forest/runtime-deps.js'
import {Shrink, type ShrinkResult} from '../forest/shrink.js'
import {MorpheusCommand} from '../ui/base-command.js'
import {forestJson, nodeWith} from '../ui/json-shapes.js'
import {ProgressRelay} from '../ui/progress.js'
import {plural} from '../words.js'

/** --json of a shrink: the forest and node objects of docs/json.md, with each node's endpoints. */
export function shrinkJson(result: ShrinkResult) {
  const node = ({client, monitor, ...n}: ShrinkResult['removed']) => nodeWith(n, {client, monitor})
  return {...result, forest: forestJson(result.forest), nodes: result.nodes.map(node), removed: node(result.removed)}
}

export default class ShrinkCommand extends MorpheusCommand {
  static summary = 'Remove one node from a forest, moving its JetStream replicas to the other nodes first.'
  static description = `Shrink moves every stream replica on the node to the other nodes and waits until they are current, puts the node's NATS in lame duck mode, removes it from the JetStream meta group while it is offline, then removes its machine and its record. Without --node it picks the newest node and names it. It refuses, changing nothing, when the forest has one node, when a node does not answer, when the forest has no system-account user (forests planted before Morpheus made one) or runs embedded NATS, and when a stream's replicas could not be kept on the nodes that remain (R3 streams on three nodes) unless --lower-replicas. Ctrl-C leaves the node recorded as being removed; running shrink again finishes it. See docs/shrink.md.`
  static examples = [
    '<%= config.bin %> shrink forest-1732400000',
    {
      command: '<%= config.bin %> shrink forest-1732400000 --node node-2 --yes --json',
      description: 'Remove node-2, without a prompt, with the result as JSON.',
    },
    {
      command: '<%= config.bin %> shrink forest-1732400000 --lower-replicas --yes',
      description: 'A three-node forest with R3 streams: remove a node and lower those streams to two replicas.',
    },
  ]
  static args = {
    forest: Args.string({description: 'Forest id (see `morpheus list`).', required: true}),
  }
  static flags = {
    node: Flags.string({description: 'The node to remove (default: the newest, named before anything changes).'}),
    'lower-replicas': Flags.boolean({description: 'Lower the replica count of streams that would have more replicas than nodes.'}),
    unsafe: Flags.boolean({description: 'Write the registry even if its backend cannot make concurrent writes safe.'}),
    yes: Flags.boolean({char: 'y', description: 'Do not ask for confirmation.'}),
  }

  async run(): Promise<ReturnType<typeof shrinkJson>> {
    const {args, flags} = await this.parse(ShrinkCommand)
    const relay = new ProgressRelay({fancy: this.fancyProgress, quiet: this.jsonEnabled()})
    const deps = await forestDeps(this.runtime, {progress: relay, unsafe: flags.unsafe})
    const shrink = await Shrink.prepare(deps, {forestId: args.forest, lowerReplicas: flags['lower-replicas'], node: flags.node})
    const node = shrink.leaving.id
    const moves = shrink.plannedMoves
    const lowered = moves.filter((m) => m.replicas_after < m.replicas)
    const what = `${shrink.resumed ? 'Finish removing' : 'Remove'} ${node}${shrink.picked ? ' (picked: the newest node)' : ''} from ${shrink.forest.id}, leaving ${plural(shrink.remaining.length, 'node')}`
    const detail = `${moves.length > 0 ? `; ${plural(moves.length, 'stream')} move${moves.length === 1 ? 's' : ''} off it first` : ''}${lowered.length > 0 ? ` (${lowered.map((m) => `${m.stream} R${m.replicas}→R${m.replicas_after}`).join(', ')})` : ''}`
    let ok = false
    try {
      ok = await this.confirmOrRefuse({
        hint: 'Pass --yes to confirm.',
        question: `${what}${detail}?`,
        refusal: `refusing to remove ${node} from ${shrink.forest.id}`,
        yes: flags.yes,
      })
    } finally {
      if (!ok) await shrink.close()
    }
    if (!ok) throw new MorpheusError('USAGE', 'shrink cancelled; nothing was changed')
    try {
      const outcome = await this.operate(relay, (runner) => runner.run(shrink))
      if (outcome.kind !== 'done') {
        const running = outcome.kind === 'busy' ? `a ${outcome.operation.kind} on ${outcome.operation.device}` : outcome.reason
        throw new MorpheusError('REGISTRY', `forest ${shrink.forest.id} is being changed right now (${running})`, {
          hint: 'Try again when it has finished.',
        })
      }
      const result = outcome.result
      if (!this.jsonEnabled()) {
        const moved = result.moved.length > 0 ? `; moved ${plural(result.moved.length, 'stream')} off it first` : ''
        this.log(
          `✅ Removed ${node} from ${result.forest.id}${moved}. The forest has ${plural(result.nodes.length, 'node')}: ${result.nodes.map((n) => n.id).join(', ')} (${result.seconds}s).`,
        )
      }
      return shrinkJson(result)
    } finally {
      // The JetStream connection must not outlive the command (also when the runner stopped before the claim).
      await shrink.close()
    }
  }
}
