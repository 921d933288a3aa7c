import {MorpheusCommand} from '../../ui/base-command.js'
import {configPath} from '../../config/config.js'

export default class ConfigPath extends MorpheusCommand {
  static summary = 'Print the path of the config file (MORPHEUS_CONFIG overrides it).'
  static examples = ['<%= config.bin %> config path']

  async run(): Promise<{path: string}> {
    await this.parse(ConfigPath)
    const path = configPath()
    if (!this.jsonEnabled()) this.log(path)
    return {path}
  }
}
