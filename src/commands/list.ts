import {MorpheusCommand} from '../ui/base-command.js'
import {readRegistry} from '../registry/update.js'
import {ago, table} from '../ui/table.js'
import type {ForestRecord} from '../plugin-api/index.js'
import {deviceId} from '../device.js'
import {staleOperation} from '../forest/operation.js'

export interface ListedForest extends ForestRecord {
  nodes: number
  active_nodes: number
  /** Its recorded operation (plant, grow, teardown) stopped without recording its end. */
  stale: boolean
}

export default class List extends MorpheusCommand {
  static summary = 'List the forests in the registry'
  static examples = ['<%= config.bin %> list', '<%= config.bin %> list --json']

  async run(): Promise<{forests: ListedForest[]}> {
    await this.parse(List)
    const {backend} = await this.runtime.registry()
    const {doc} = await readRegistry(backend)
    const forests = Object.values(doc.forests)
      .sort((a, b) => a.created_at.localeCompare(b.created_at))
      .map((f) => {
        const nodes = doc.nodes[f.id] ?? []
        return {...f, active_nodes: nodes.filter((n) => n.status === 'active').length, nodes: nodes.length, stale: Boolean(staleOperation(f, deviceId()))}
      })
    if (!this.jsonEnabled()) {
      if (forests.length === 0) this.log(`No forests in the registry (${backend.location}). Plant one: morpheus plant local small`)
      else this.log(table(['FOREST', 'PROVIDER', 'SIZE', 'NODES', 'STATUS', 'CREATED'], forests.map((f) => [f.id, f.provider, f.size, `${f.active_nodes}/${f.nodes}`, f.stale ? `${f.status} (stale: teardown or re-plant)` : f.status, ago(f.created_at)])))
    }
    return {forests}
  }
}
