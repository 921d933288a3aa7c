import {MorpheusCommand} from '../../ui/base-command.js'
import {assertNoConflicts} from '../../plugins/discovery.js'
import {table} from '../../ui/table.js'
import {capabilityList, type ListedPlugin} from '../providers.js'

export default class RegistryBackends extends MorpheusCommand {
  static summary = 'List the installed registry backends and the plugins they come from.'
  static examples = ['<%= config.bin %> registry backends', '<%= config.bin %> registry backends --json']

  async run(): Promise<{backends: Array<ListedPlugin & {selected: boolean}>}> {
    await this.parse(RegistryBackends)
    const catalog = await this.runtime.registries()
    const selected = this.runtime.registryType()
    const backends = catalog.entries.map((e) => ({
      aliases: [...(e.descriptor.aliases ?? [])],
      capabilities: e.descriptor.capabilities,
      name: e.descriptor.name,
      plugin: e.plugin.name,
      plugin_type: e.plugin.type,
      selected: e.descriptor.name === selected || Boolean(e.descriptor.aliases?.includes(selected)),
      summary: e.descriptor.summary,
      version: e.plugin.version,
    }))
    if (!this.jsonEnabled()) {
      this.log(table(['BACKEND', 'PLUGIN', 'VERSION', 'SUMMARY', 'CAPABILITIES'], backends.map((b) => [`${b.selected ? '* ' : '  '}${b.name}`, b.plugin, b.version, b.summary, capabilityList(b.capabilities)])))
      this.log(`\n* selected by registry.type (${selected})`)
    }
    assertNoConflicts(catalog)
    return {backends}
  }
}
