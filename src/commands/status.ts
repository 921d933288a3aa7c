import * as Args from '@oclif/core/args'

import {staleHint} from '../forest/operation.js'
import {forestDeps} from '../forest/runtime-deps.js'
import {describeLeader, forestStatus, type ForestStatusView} from '../forest/status.js'
import {describeVersions} from '../forest/versions.js'
import {MorpheusCommand} from '../ui/base-command.js'
import {forestJson, nodeWith, operationJson} from '../ui/json-shapes.js'
import {table} from '../ui/table.js'

export default class Status extends MorpheusCommand {
  static summary = "Show a forest's live state: each node's health and routes, and the JetStream leader."
  static description =
    'The exit code is 0 whatever the health: scripts read `health` (healthy, degraded, down, empty, elsewhere) from --json.'
  static examples = ['<%= config.bin %> status forest-1732400000', '<%= config.bin %> status forest-1732400000 --json']
  static args = {
    forest: Args.string({description: 'Forest id (see `morpheus list`).', required: true}),
  }

  async run(): Promise<ReturnType<typeof statusJson>> {
    const {args} = await this.parse(Status)
    const view = await forestStatus(await forestDeps(this.runtime), args.forest)
    if (!this.jsonEnabled()) {
      const f = view.forest
      if (view.health === 'elsewhere') {
        this.log(
          `Forest ${f.id}: runs on device ${view.device} (registry: ${f.status}; ${f.provider}, ${f.size}); its nodes are processes there, so their health can only be seen on that device.`,
        )
      } else {
        this.log(`Forest ${f.id}: ${view.health} (registry: ${f.status}; ${f.provider}, ${f.size}; ${describeLeader(view)})`)
      }
      if (f.versions) this.log(`Versions: ${describeVersions(f.versions)} (recorded; grow and repair make nodes of these)`)
      if (view.stale_operation) this.log(`Stale: ${staleHint(f)}`)
      if (view.nodes.length > 0) {
        this.log('')
        this.log(
          table(
            ['NODE', 'ADDRESS', 'RECORDED', 'HEALTH', 'ROUTES', 'VERSION'],
            view.nodes.map((n) => [
              n.id,
              n.ip || '-',
              n.status,
              !n.health
                ? 'not probed'
                : n.health.healthy
                  ? 'ok'
                  : n.health.reachable
                    ? `unhealthy: ${n.health.error ?? 'healthz failed'}`
                    : `not answering: ${n.health.error ?? 'no answer'}`,
              n.health?.reachable ? `${n.health.routes}/${view.nodes.length - 1}` : '-',
              n.health?.version ?? '-',
            ]),
          ),
        )
      }
    }
    return statusJson(view)
  }
}

/** --json of status: the forest and node objects of docs/json.md, each node with its monitoring URL and health. */
export function statusJson(view: ForestStatusView) {
  return {
    ...view,
    forest: forestJson(view.forest),
    nodes: view.nodes.map(({health, monitor, ...n}) => nodeWith(n, {monitor, health})),
    stale_operation: operationJson(view.stale_operation),
  }
}
