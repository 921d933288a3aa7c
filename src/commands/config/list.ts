import {dump} from 'js-yaml'

import {MorpheusCommand} from '../../ui/base-command.js'
import {displayValue} from '../../config/config.js'
import {isPlainObject, withDefaults} from '../../config/schema.js'

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
    // Defaults: the core's, each installed provider's, and the selected registry backend's.
    const defaults: Record<string, unknown> = {...config.values, providers: {...(config.values.providers as object)}}
    for (const e of (await this.runtime.providers()).entries) {
      if (e.descriptor.configSchema) (defaults.providers as Record<string, unknown>)[e.descriptor.name] = withDefaults(e.descriptor.configSchema)
    }
    const type = this.runtime.registryType()
    const backend = (await this.runtime.registries()).entries.find((e) => e.descriptor.name === type || e.descriptor.aliases?.includes(type))
    defaults.registry = {type, ...withDefaults(backend?.descriptor.configSchema ?? {})}
    // Show what the file says (with ${ENV} references unexpanded) over the defaults.
    const merged = deepMerge(defaults, config.raw)
    const secret = await this.runtime.secretKeys()
    const values = Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, displayValue(k, v, secret)]))
    if (!this.jsonEnabled()) {
      this.log(`# ${config.path}${config.exists ? '' : ' (not created yet: these are the defaults)'}`)
      this.log(dump(values, {lineWidth: 120}).trimEnd())
    }
    return {exists: config.exists, path: config.path, values}
  }
}
