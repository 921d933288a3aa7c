import * as Args from '@oclif/core/args'

import {MorpheusCommand} from '../../ui/base-command.js'
import {configPath, readRawConfig, unsetKey, writeConfig} from '../../config/config.js'
import {MorpheusError} from '../../errors.js'

export default class ConfigUnset extends MorpheusCommand {
  static summary = 'Remove one key from the config file (its default applies again)'
  static examples = ['<%= config.bin %> config unset forest.sizes.medium']
  static args = {key: Args.string({description: 'dotted key', required: true})}

  async run(): Promise<{key: string; path: string}> {
    const {args} = await this.parse(ConfigUnset)
    const path = configPath()
    const {raw} = readRawConfig(path)
    if (!unsetKey(raw, args.key)) throw new MorpheusError('NOT_FOUND', `${args.key} is not set in ${path}`)
    writeConfig(path, raw)
    if (!this.jsonEnabled()) this.log(`${args.key} removed (${path})`)
    return {key: args.key, path}
  }
}
