import * as Args from '@oclif/core/args'
import {dump} from 'js-yaml'

import {MorpheusCommand} from '../../ui/base-command.js'
import {displayValue, getKey} from '../../config/config.js'
import {MorpheusError} from '../../errors.js'

export default class ConfigGet extends MorpheusCommand {
  static summary = 'Print one config value (the effective one: defaults filled in, secrets masked)'
  static examples = ['<%= config.bin %> config get forest.sizes.medium', '<%= config.bin %> config get registry --json']
  static args = {key: Args.string({description: 'dotted key, e.g. forest.sizes.small', required: true})}

  async run(): Promise<{key: string; value: unknown}> {
    const {args} = await this.parse(ConfigGet)
    const config = this.runtime.config
    const raw = getKey(config.raw, args.key)
    const value = raw === undefined ? getKey(config.values, args.key) : raw
    if (value === undefined) throw new MorpheusError('NOT_FOUND', `${args.key} is not set in ${config.path} and has no default`, {hint: '`morpheus config list` shows every key.'})
    const shown = displayValue(args.key, value, await this.runtime.secretKeys(args.key))
    if (!this.jsonEnabled()) this.log(typeof shown === 'object' ? dump(shown).trimEnd() : String(shown))
    return {key: args.key, value: shown}
  }
}
