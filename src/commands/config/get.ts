import * as Args from '@oclif/core/args'
import {dump} from 'js-yaml'

import {MorpheusCommand} from '../../ui/base-command.js'
import {displayValue, getKey} from '../../config/config.js'
import {assertKeySyntax, checkKey, effectiveConfig, keySchemas} from '../../config/keys.js'
import {MorpheusError} from '../../errors.js'

export default class ConfigGet extends MorpheusCommand {
  static summary = 'Print one config value: the one in effect (what the file says, else the default), secrets masked.'
  static examples = ['<%= config.bin %> config get forest.sizes.medium', '<%= config.bin %> config get registry --json']
  static args = {key: Args.string({description: 'Dotted key, e.g. forest.sizes.small.', required: true})}

  async run(): Promise<{key: string; value: unknown}> {
    const {args} = await this.parse(ConfigGet)
    assertKeySyntax(args.key)
    const installed = await this.runtime.installedPlugins()
    const check = checkKey(args.key, keySchemas(installed, this.runtime.config.raw))
    if (check.known === false) throw check.error
    const value = getKey(effectiveConfig(this.runtime.config, installed, this.runtime.registryType()), args.key)
    if (value === undefined) {
      throw new MorpheusError('NOT_FOUND', `${args.key} has no value: it is not set in ${this.runtime.config.path} and has no default`, {
        hint: `Set it: \`morpheus config set ${args.key} <value>\`.`,
      })
    }
    const shown = displayValue(args.key, value, await this.runtime.secretKeys(args.key))
    if (!this.jsonEnabled()) this.log(typeof shown === 'object' && shown !== null ? dump(shown).trimEnd() : String(shown))
    return {key: args.key, value: shown}
  }
}
