import * as Args from '@oclif/core/args'

import {MorpheusCommand} from '../../ui/base-command.js'
import {configPath, displayValue, expandEnv, parseCliValue, readRawConfig, setKey, validateCore, writeConfig} from '../../config/config.js'
import {MorpheusError} from '../../errors.js'

export default class ConfigSet extends MorpheusCommand {
  static summary = 'Set one config value (validated before the file is written; the file is mode 0600)'
  static examples = [
    '<%= config.bin %> config set forest.sizes.medium 3',
    '<%= config.bin %> config set registry.type none',
    "<%= config.bin %> config set secrets.hetzner_api_token '${HETZNER_API_TOKEN}'",
  ]
  static args = {
    key: Args.string({description: 'dotted key, e.g. forest.sizes.small', required: true}),
    value: Args.string({description: 'value, read as YAML (3 is a number, true a boolean)', required: true}),
  }

  /** Naming a provider or backend that is not installed is allowed (it may be installed next), but said. */
  private async warnIfNotInstalled(key: string, value: unknown): Promise<void> {
    if (typeof value !== 'string' || value.includes('${')) return
    const catalog = key === 'registry.type' ? await this.runtime.registries() : key === 'infrastructure.provider' ? await this.runtime.providers() : undefined
    if (!catalog) return
    if (catalog.entries.some((e) => e.descriptor.name === value || e.descriptor.aliases?.includes(value))) return
    this.runtime.log.warn(`no ${catalog.kind} "${value}" is installed yet (installed: ${catalog.entries.map((e) => e.descriptor.name).join(', ')}); install its plugin with \`morpheus plugins install <package>\``)
  }

  async run(): Promise<{key: string; value: unknown; path: string}> {
    const {args} = await this.parse(ConfigSet)
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(args.key)) throw new MorpheusError('USAGE', `"${args.key}" is not a dotted key like forest.sizes.small`)
    const path = configPath()
    const {raw} = readRawConfig(path)
    const value = parseCliValue(args.value)
    setKey(raw, args.key, value)
    // Validate the result with ${ENV} references left as they are (they may be set only later).
    validateCore(expandEnv(raw, path, new Proxy({}, {get: (_t, k) => `\${${String(k)}}`})) as Record<string, unknown>, path)
    writeConfig(path, raw)
    await this.warnIfNotInstalled(args.key, value)
    const shown = displayValue(args.key, value, await this.runtime.secretKeys(args.key))
    if (!this.jsonEnabled()) this.log(`${args.key} = ${typeof shown === 'object' ? JSON.stringify(shown) : String(shown)}  (${path})`)
    return {key: args.key, path, value: shown}
  }
}
