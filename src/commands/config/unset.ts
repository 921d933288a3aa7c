import * as Args from '@oclif/core/args'

import {MorpheusCommand} from '../../ui/base-command.js'
import {configPath, readRawConfig, unsetKey, writeConfig} from '../../config/config.js'
import {assertKeySyntax, checkKey, keySchemas} from '../../config/keys.js'

export default class ConfigUnset extends MorpheusCommand {
  static summary = 'Remove one key from the config file (its default applies again).'
  static description =
    'Mappings the removal leaves empty go too. A key that is not set is not an error: nothing changes (`removed: false` in --json).'
  static examples = ['<%= config.bin %> config unset forest.sizes.medium']
  static args = {key: Args.string({description: 'Dotted key, e.g. forest.sizes.medium.', required: true})}

  async run(): Promise<{key: string; path: string; removed: boolean}> {
    const {args} = await this.parse(ConfigUnset)
    assertKeySyntax(args.key)
    const path = configPath()
    const {raw} = readRawConfig(path)
    // A key in the file is removed whatever it is (that is how a misspelt key goes); any other must exist.
    if (unsetKey(raw, args.key)) {
      writeConfig(path, raw)
      if (!this.jsonEnabled()) this.log(`${args.key} removed (${path})`)
      return {key: args.key, path, removed: true}
    }
    const check = checkKey(args.key, keySchemas(await this.runtime.installedPlugins(), raw))
    if (check.known === false) throw check.error
    if (!this.jsonEnabled()) this.log(`${args.key} is not set in ${path}: nothing changed`)
    return {key: args.key, path, removed: false}
  }
}
