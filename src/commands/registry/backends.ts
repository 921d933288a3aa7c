import {MorpheusCommand} from '../../ui/base-command.js'
import {assertNoConflicts} from '../../plugins/discovery.js'
import {installCommand, missingBackendHint} from '../../plugins/install-hint.js'
import {table} from '../../ui/table.js'
import {capabilityList, type ListedPlugin} from '../../ui/plugin-list.js'

/** What registry.type selects, and whether an installed plugin offers it (`install`: the command that installs it, when it is one of Morpheus's own). */
export interface Selection {
  type: string
  installed: boolean
  install: string | null
}

export default class RegistryBackends extends MorpheusCommand {
  static summary = 'List the installed registry backends and the plugins they come from.'
  static description =
    'Marks the one registry.type selects; when that one is not installed, says so and names the command that installs it.'
  static examples = ['<%= config.bin %> registry backends', '<%= config.bin %> registry backends --json']

  async run(): Promise<{backends: Array<ListedPlugin & {selected: boolean}>; selection: Selection}> {
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
    const installed = backends.some((b) => b.selected)
    const {command, known} = installCommand('registry backend', selected)
    const selection: Selection = {install: !installed && known ? command : null, installed, type: selected}
    const missing = `registry.type selects "${selected}", which is not installed: no command that needs the registry can run. ${missingBackendHint(selected)}`
    if (this.jsonEnabled()) {
      if (!installed) this.warning(missing, 'PLUGIN')
    } else {
      this.log(
        table(
          ['BACKEND', 'PLUGIN', 'VERSION', 'SUMMARY', 'CAPABILITIES'],
          backends.map((b) => [`${b.selected ? '* ' : '  '}${b.name}`, b.plugin, b.version, b.summary, capabilityList(b.capabilities)]),
        ),
      )
      this.log(installed ? `\n* selected by registry.type (${selected})` : `\n${missing}`)
    }
    assertNoConflicts(catalog)
    return {backends, selection}
  }
}
