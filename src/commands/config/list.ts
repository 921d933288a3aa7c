import {dump} from 'js-yaml'

import {MorpheusCommand} from '../../ui/base-command.js'
import {displayValue} from '../../config/config.js'
import {isPlainObject} from '../../config/schema.js'

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {...base}
  for (const [k, v] of Object.entries(over)) out[k] = isPlainObject(v) && isPlainObject(base[k]) ? deepMerge(base[k] as Record<string, unknown>, v) : v
  return out
}

export default class ConfigList extends MorpheusCommand {
  static summary = 'Print the effective configuration (defaults filled in, secrets masked)'
  static examples = ['<%= config.bin %> config list', '<%= config.bin %> config list --json']

  async run(): Promise<{path: string; exists: boolean; values: unknown}> {
    await this.parse(ConfigList)
    const config = this.runtime.config
    // Show what the file says (with ${ENV} references unexpanded) over the defaults.
    const merged = deepMerge(config.values, config.raw)
    const secret = await this.runtime.secretKeys()
    const values = Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, displayValue(k, v, secret)]))
    if (!this.jsonEnabled()) {
      this.log(`# ${config.path}${config.exists ? '' : ' (not created yet: these are the defaults)'}`)
      this.log(dump(values, {lineWidth: 120}).trimEnd())
    }
    return {exists: config.exists, path: config.path, values}
  }
}
