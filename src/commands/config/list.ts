import {dump} from 'js-yaml'

import {MorpheusCommand} from '../../ui/base-command.js'
import {displayValue} from '../../config/config.js'
import {effectiveConfig} from '../../config/keys.js'

export default class ConfigList extends MorpheusCommand {
  static summary = 'Print the configuration in effect (defaults filled in, secrets masked).'
  static examples = ['<%= config.bin %> config list', '<%= config.bin %> config list --json']

  async run(): Promise<{path: string; exists: boolean; values: unknown}> {
    await this.parse(ConfigList)
    const config = this.runtime.config
    // What the file says (with ${ENV} references unexpanded) over the defaults of the core, each installed provider and the selected registry backend.
    const merged = effectiveConfig(config, await this.runtime.installedPlugins(), this.runtime.registryType())
    const secret = await this.runtime.secretKeys()
    const values = Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, displayValue(k, v, secret)]))
    if (!this.jsonEnabled()) {
      this.log(`# ${config.path}${config.exists ? '' : ' (not created yet: these are the defaults)'}`)
      this.log(dump(values, {lineWidth: 120}).trimEnd())
    }
    return {exists: config.exists, path: config.path, values}
  }
}
