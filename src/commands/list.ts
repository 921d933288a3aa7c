import {MorpheusCommand} from '../ui/base-command.js'
import {readRegistry} from '../registry/update.js'
import {ago, table} from '../ui/table.js'
import {deviceId} from '../device.js'
import {staleOperation} from '../forest/operation.js'
import {forestJson, nodeJson, type ForestJson, type NodeJson} from '../ui/json-shapes.js'

export interface ListedForest extends ForestJson {
  /** Its recorded operation (plant, grow, teardown) stopped without recording its end. */
  stale: boolean
  /** How many of `nodes` are active. */
  active_nodes: number
  nodes: NodeJson[]
}

export default class List extends MorpheusCommand {
  static summary = 'List the forests in the registry.'
  static examples = ['<%= config.bin %> list', '<%= config.bin %> list --json']

  async run(): Promise<{forests: ListedForest[]}> {
    await this.parse(List)
    const {backend} = await this.runtime.registry()
    const {doc} = await readRegistry(backend)
    const forests = Object.values(doc.forests)
      .sort((a, b) => a.created_at.localeCompare(b.created_at))
      .map((f): ListedForest => {
        const nodes = doc.nodes[f.id] ?? []
        return {
          ...forestJson(f),
          active_nodes: nodes.filter((n) => n.status === 'active').length,
          nodes: nodes.map((n) => nodeJson(n)),
          stale: Boolean(staleOperation(f, deviceId())),
        }
      })
    if (!this.jsonEnabled()) {
      if (forests.length === 0) this.log(`No forests in the registry (${backend.location}). Plant one: ${this.plantSuggestion()}`)
      else
        this.log(
          table(
            ['FOREST', 'PROVIDER', 'SIZE', 'NODES', 'STATUS', 'CREATED'],
            forests.map((f) => [
              f.id,
              f.provider,
              f.size,
              `${f.active_nodes}/${f.nodes.length}`,
              f.stale ? `${f.status} (stale: teardown or re-plant)` : f.status,
              ago(f.created_at),
            ]),
          ),
        )
    }
    return {forests}
  }

  /** The first plant to suggest: on the cloud provider the config names, else on this machine. */
  private plantSuggestion(): string {
    const {raw, values} = this.runtime.config
    // Only when the file sets it: the default (hetzner) says nothing about what this user has.
    if ((raw.infrastructure as {provider?: unknown} | undefined)?.provider === undefined) return 'morpheus plant local small'
    const provider = values.infrastructure.provider
    if (provider === 'local') return 'morpheus plant local small'
    return `morpheus plant cloud small (on ${provider}, your infrastructure.provider), or on this machine: morpheus plant local small`
  }
}
