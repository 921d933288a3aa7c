import {MorpheusCommand} from '../ui/base-command.js'
import {assertNoConflicts} from '../plugins/discovery.js'
import {capabilityList, type ListedPlugin} from '../ui/plugin-list.js'
import {table} from '../ui/table.js'
import type {ProviderCapabilities} from '../plugin-api/index.js'

export default class Providers extends MorpheusCommand {
  static summary = 'List the installed providers and the plugins they come from.'
  static examples = ['<%= config.bin %> providers', '<%= config.bin %> providers --json']

  async run(): Promise<{providers: ListedPlugin[]}> {
    await this.parse(Providers)
    const catalog = await this.runtime.providers()
    const providers = catalog.entries.map((e) => ({
      aliases: [...(e.descriptor.aliases ?? [])],
      capabilities: e.descriptor.capabilities as ProviderCapabilities,
      name: e.descriptor.name,
      plugin: e.plugin.name,
      plugin_type: e.plugin.type,
      summary: e.descriptor.summary,
      version: e.plugin.version,
    }))
    if (!this.jsonEnabled()) {
      this.log(
        table(
          ['PROVIDER', 'PLUGIN', 'VERSION', 'SUMMARY', 'CAPABILITIES'],
          providers.map((p) => [
            p.name + (p.aliases.length > 0 ? ` (${p.aliases.join(', ')})` : ''),
            p.plugin,
            p.version,
            p.summary,
            capabilityList(p.capabilities),
          ]),
        ),
      )
    }
    assertNoConflicts(catalog)
    return {providers}
  }
}
