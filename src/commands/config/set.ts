import * as Args from '@oclif/core/args'

import {MorpheusCommand} from '../../ui/base-command.js'
import {configPath, displayValue, expandEnv, getKey, parseCliValue, readRawConfig, setKey, writeConfig} from '../../config/config.js'
import {coreSchema} from '../../config/core-schema.js'
import {assertKeySyntax, checkKey, keySchemas, type KeySchemas} from '../../config/keys.js'
import {isPlainObject, validateAgainst, type SchemaProblem} from '../../config/schema.js'
import {MorpheusError} from '../../errors.js'
import {installCommand} from '../../plugins/install-hint.js'

/** ${ENV} references are checked as they are written: they may be set only later. */
const unexpanded = new Proxy({}, {get: (_t, k) => `\${${String(k)}}`}) as NodeJS.ProcessEnv

/** Problems of the whole file: the core's keys, and the plugin section `key` lies in (when its plugin is installed). */
function problems(raw: Record<string, unknown>, path: string, key: string, schemas: KeySchemas): SchemaProblem[] {
  const found = validateAgainst(coreSchema, expandEnv(raw, path, unexpanded) as Record<string, unknown>, '')
  const [top, name] = key.split('.')
  const section =
    top === 'registry'
      ? {prefix: 'registry', schema: schemas.registry}
      : top === 'providers' && name
        ? {prefix: `providers.${name}`, schema: schemas.providers.get(name)}
        : undefined
  const value = section?.schema ? getKey(raw, section.prefix) : undefined
  if (section?.schema && isPlainObject(value))
    found.push(
      ...validateAgainst(section.schema, expandEnv(value, path, unexpanded, section.prefix) as Record<string, unknown>, section.prefix),
    )
  return found
}

export default class ConfigSet extends MorpheusCommand {
  static summary = 'Set one config value (checked before the file is written; the file is mode 0600).'
  static examples = [
    '<%= config.bin %> config set forest.sizes.medium 3',
    '<%= config.bin %> config set registry.type none',
    "<%= config.bin %> config set secrets.hetzner_api_token '${HETZNER_API_TOKEN}'",
  ]
  static args = {
    key: Args.string({description: 'Dotted key, e.g. forest.sizes.small.', required: true}),
    value: Args.string({description: 'Value, read as YAML (3 is a number, true a boolean).', required: true}),
  }

  /** Naming a provider or backend that is not installed is allowed (it may be installed next), but said. */
  private async warnIfNotInstalled(key: string, value: unknown): Promise<void> {
    if (typeof value !== 'string' || value.includes('${')) return
    const catalog =
      key === 'registry.type'
        ? await this.runtime.registries()
        : key === 'infrastructure.provider'
          ? await this.runtime.providers()
          : undefined
    if (!catalog) return
    if (catalog.entries.some((e) => e.descriptor.name === value || e.descriptor.aliases?.includes(value))) return
    this.runtime.log.warn(
      `no ${catalog.kind} "${value}" is installed yet (installed: ${catalog.entries.map((e) => e.descriptor.name).join(', ')}); install its plugin with \`${installCommand(catalog.kind, value).command}\``,
    )
  }

  async run(): Promise<{key: string; value: unknown; path: string}> {
    const {args} = await this.parse(ConfigSet)
    assertKeySyntax(args.key)
    const path = configPath()
    const {raw} = readRawConfig(path)
    const schemas = keySchemas(await this.runtime.installedPlugins(), raw)
    const check = checkKey(args.key, schemas)
    if (check.known === false) throw check.error
    const value = parseCliValue(args.value)
    setKey(raw, args.key, value)
    const found = problems(raw, path, args.key, schemas)
    // The value given here is wrong: a usage error, and the file was not touched.
    const own = found.filter((p) => p.key === args.key || p.key.startsWith(`${args.key}.`) || args.key.startsWith(`${p.key}.`))
    if (own.length > 0) {
      throw new MorpheusError('USAGE', `${own.map((p) => `${p.key} ${p.message}`).join('; ')}; ${path} was not changed`, {
        hint:
          check.known === true && check.schema?.description
            ? `${args.key}: ${check.schema.description.replace(/\.$/, '')}.`
            : 'Every key is described in config.example.yaml.',
      })
    }
    // The file is wrong elsewhere: say so, and which key to fix first.
    if (found.length > 0) {
      throw new MorpheusError('CONFIG', `${path}: ${found.map((p) => `${p.key} ${p.message}`).join('; ')}; the file was not changed`, {
        hint: `Fix that first: \`morpheus config unset ${found[0].key}\` (or set it to a valid value), then set ${args.key} again.`,
      })
    }
    writeConfig(path, raw)
    if (check.known === 'unchecked') this.runtime.log.warn(`${args.key} was not checked: ${check.note}`)
    await this.warnIfNotInstalled(args.key, value)
    const shown = displayValue(args.key, value, await this.runtime.secretKeys(args.key))
    if (!this.jsonEnabled()) this.log(`${args.key} = ${typeof shown === 'object' ? JSON.stringify(shown) : String(shown)}  (${path})`)
    return {key: args.key, path, value: shown}
  }
}
