import {MorpheusCommand} from '../../ui/base-command.js'
import {readRegistry} from '../../registry/update.js'
import type {RegistryProbe} from '../../plugin-api/index.js'
import {plural} from '../../words.js'

export default class RegistryInfo extends MorpheusCommand {
  static summary = 'Show where the registry lives, how writes are kept safe, and what it holds.'
  static examples = ['<%= config.bin %> registry info', '<%= config.bin %> registry info --json']

  async run(): Promise<{
    backend: string
    plugin: string
    location: string
    probe: RegistryProbe
    exists: boolean
    forest_count: number
    node_count: number
    updated_at: string | null
  }> {
    await this.parse(RegistryInfo)
    const {backend, entry} = await this.runtime.registry()
    const probe = await backend.probe()
    const {doc, revision} = await readRegistry(backend)
    const result = {
      backend: entry.descriptor.name,
      exists: revision !== null,
      forest_count: Object.keys(doc.forests).length,
      location: backend.location,
      node_count: Object.values(doc.nodes).flat().length,
      plugin: `${entry.plugin.name}@${entry.plugin.version}`,
      probe,
      updated_at: revision === null ? null : doc.updated_at,
    }
    if (!this.jsonEnabled()) {
      this.log(`Backend:     ${result.backend} (${result.plugin})`)
      this.log(`Location:    ${result.location}`)
      this.log(`Concurrency: ${probe.concurrency}${probe.notes.length > 0 ? ` (${probe.notes.join('; ')})` : ''}`)
      this.log(
        `Document:    ${result.exists ? `${plural(result.forest_count, 'forest')}, ${plural(result.node_count, 'node')}, updated ${result.updated_at}` : 'not created yet (the first plant creates it)'}`,
      )
    }
    return result
  }
}
