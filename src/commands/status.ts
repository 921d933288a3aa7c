import * as Args from '@oclif/core/args'

import {staleHint} from '../forest/operation.js'
import {forestDeps} from '../forest/runtime-deps.js'
import {forestStatus, type ForestStatusView} from '../forest/status.js'
import {MorpheusCommand} from '../ui/base-command.js'
import {table} from '../ui/table.js'

export default class Status extends MorpheusCommand {
  static summary = "Show a forest's live state: each node's health and routes, and the JetStream leader"
  static description = 'The exit code is 0 whatever the health: scripts read `health` (healthy, degraded, down, empty, elsewhere) from --json.'
  static examples = ['<%= config.bin %> status forest-1732400000', '<%= config.bin %> status forest-1732400000 --json']
  static args = {
    forest: Args.string({description: 'forest id (see `morpheus list`)', required: true}),
  }

  async run(): Promise<ForestStatusView> {
    const {args} = await this.parse(Status)
    const view = await forestStatus(await forestDeps(this.runtime), args.forest)
    if (!this.jsonEnabled()) {
      const f = view.forest
      if (view.health === 'elsewhere') {
        this.log(`Forest ${f.id}: runs on device ${view.device} (registry: ${f.status}; ${f.provider}, ${f.size}); its nodes are processes there, so their health can only be seen on that device.`)
      } else {
        this.log(`Forest ${f.id}: ${view.health} (registry: ${f.status}; ${f.provider}, ${f.size}; JetStream leader: ${view.jetstream_leader ?? 'none agreed'})`)
      }
      if (view.stale_operation) this.log(`Stale: ${staleHint(f)}`)
      if (view.nodes.length > 0) {
        this.log('')
        this.log(table(
          ['NODE', 'ADDRESS', 'RECORDED', 'HEALTH', 'ROUTES', 'VERSION'],
          view.nodes.map((n) => [
            n.id,
            n.ip || '-',
            n.status,
            !n.health ? 'not probed' : n.health.healthy ? 'ok' : n.health.reachable ? `unhealthy: ${n.health.error ?? 'healthz failed'}` : `unreachable (${n.health.error ?? 'no answer'})`,
            n.health?.reachable ? `${n.health.routes}/${view.nodes.length - 1}` : '-',
            n.health?.version ?? '-',
          ]),
        ))
      }
    }
    return view
  }
}
