import {Args, Flags} from '@oclif/core'

import {forgetForestIds} from '../autocomplete/forests-cache.js'
import {MorpheusError} from '../errors.js'
import {interrupted, Planting, type PlantResult} from '../forest/plant.js'
import {MorpheusCommand} from '../ui/base-command.js'
import {runPhases} from '../ui/progress.js'
import {table} from '../ui/table.js'

export default class Plant extends MorpheusCommand {
  static summary = 'Plant a forest: create its nodes and wait until the NATS cluster has formed'
  static description = `Creates the nodes in parallel, each running NATS with JetStream and routes to every other node, and finishes only when every node reports a route to each of the others and JetStream has a meta leader.

PROVIDER is a provider name (see \`morpheus providers\`), or "cloud" for the configured cloud provider (infrastructure.provider). SIZE maps to a node count through forest.sizes (small 1, medium 3, large 5 by default).`
  static examples = [
    {command: '<%= config.bin %> plant local small', description: 'one NATS node on this machine'},
    {command: '<%= config.bin %> plant local medium --json', description: 'three local nodes, result as JSON'},
    {command: '<%= config.bin %> plant local --nodes 7', description: 'seven local nodes'},
    {command: '<%= config.bin %> plant cloud small', description: 'on the configured cloud provider'},
  ]
  static args = {
    provider: Args.string({description: 'provider name, or "cloud" for infrastructure.provider', required: true}),
    size: Args.string({default: 'small', description: 'size name from forest.sizes (small, medium, large)'}),
  }
  static flags = {
    nodes: Flags.integer({description: 'node count (overrides SIZE)', min: 1, max: 100}),
  }

  async run(): Promise<PlantResult> {
    const {args, flags} = await this.parse(Plant)
    const controller = new AbortController()
    const onSignal = (signal: NodeJS.Signals) => {
      if (controller.signal.aborted) process.exit(130)
      process.stderr.write(`\n${signal}: stopping; recording what exists in the registry (press Ctrl-C again to quit at once)\n`)
      controller.abort()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    let planting: Planting | undefined
    try {
      planting = await Planting.prepare(this.runtime, {nodes: flags.nodes, provider: args.provider, size: args.size}, controller.signal)
      const p = planting
      if (p.count % 2 === 0) this.runtime.log.warn(`${p.count} nodes: JetStream needs a majority, so an even count tolerates no more failures than ${p.count - 1} nodes`)
      await runPhases(
        [
          {run: async (report) => {
            await p.claim()
            report(`${p.forest.id}: ${p.nodes.map((n) => `${n.id} ${n.ip}`).join(', ')}`)
          }, title: 'Claiming the forest in the registry'},
          {run: (report) => p.create(report), title: `Creating ${p.count} node${p.count === 1 ? '' : 's'} (${p.request.provider})`},
          {run: (report) => p.waitFormed(report), title: 'Waiting for routes and a JetStream leader'},
        ],
        {fancy: this.fancyProgress, quiet: this.jsonEnabled()},
      )
      const result = await p.finish()
      if (!this.jsonEnabled()) this.show(result)
      return result
    } catch (error) {
      if (planting?.forest) {
        const status = controller.signal.aborted ? 'interrupted' : 'failed'
        await planting.abandon(status, (error as Error).message).catch((e) => this.runtime.log.warn(`could not mark the forest ${status}: ${(e as Error).message}`))
      }
      if (controller.signal.aborted && !(error instanceof MorpheusError && error.kind === 'INTERRUPTED') && planting?.forest) {
        throw interrupted(planting.forest.id)
      }
      throw error
    } finally {
      if (planting?.forest) forgetForestIds(this.config.cacheDir)
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }

  private show(result: PlantResult): void {
    const f = result.forest
    this.log(`Forest ${f.id} planted with ${result.nodes.length} node${result.nodes.length === 1 ? '' : 's'} (${f.provider}, ${f.size}) in ${result.seconds}s`)
    this.log('')
    this.log(table(['NODE', 'ADDRESS', 'CLIENT', 'MONITOR', 'STATUS'], result.nodes.map((n) => [n.id, n.ip, n.client, n.monitor, n.status])))
    this.log('')
    this.log(`Next: morpheus status ${f.id}    morpheus teardown ${f.id}`)
  }
}
