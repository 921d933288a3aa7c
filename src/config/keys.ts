/**
 * Dotted config keys as the config commands see them: which keys exist (the core's schema, each
 * installed provider's, the selected registry backend's), "did you mean" for the others, and the
 * effective values (defaults filled in under what the file says).
 */
import type {ConfigKeySchema, ConfigSchema, ProviderDescriptor, RegistryDescriptor} from '../plugin-api/index.js'
import {MorpheusError} from '../errors.js'
import {expandEnv, type LoadedConfig} from './config.js'
import {coreSchema} from './core-schema.js'
import {closeEnough, isPlainObject, withDefaults} from './schema.js'

/** Keys of the registry section that belong to the core, not to the backend. */
const REGISTRY_CORE_KEYS: ConfigSchema = {
  type: {type: 'string', description: 'the registry backend'},
  unsafe_writes: {type: 'boolean', description: 'write even if the backend cannot make concurrent writes safe'},
}

/** What the installed plugins say about config keys: their descriptors (a Runtime's catalogs give them). */
export interface InstalledPlugins {
  providers: readonly Pick<ProviderDescriptor, 'name' | 'configSchema'>[]
  registries: readonly Pick<RegistryDescriptor, 'name' | 'aliases' | 'configSchema'>[]
}

export interface KeySchemas {
  /** Installed providers' config schemas, by name. */
  providers: Map<string, ConfigSchema>
  /** The selected registry backend's keys (with type and unsafe_writes), or undefined when it is not installed. */
  registry: ConfigSchema | undefined
}

/** The schemas keys are checked against; `raw` is the file as written (it need not be valid: `config set` may be fixing it). */
export function keySchemas(installed: InstalledPlugins, raw: Record<string, unknown>): KeySchemas {
  const providers = new Map<string, ConfigSchema>()
  for (const d of installed.providers) providers.set(d.name, d.configSchema ?? {})
  const written = isPlainObject(raw.registry) ? raw.registry.type : undefined
  let type = 'none'
  try {
    if (typeof written === 'string') type = String(expandEnv(written, '', process.env, 'registry.type'))
  } catch {
    type = written as string
  }
  const backend = installed.registries.find((d) => d.name === type || d.aliases?.includes(type))
  return {providers, registry: backend ? {...REGISTRY_CORE_KEYS, ...backend.configSchema} : undefined}
}

export type KeyCheck =
  | {known: true; schema?: ConfigKeySchema}
  /** Under a plugin that is not installed (or a registry backend not selected): nothing to check against. */
  | {known: 'unchecked'; note: string}
  | {known: false; error: MorpheusError}

/** A dotted key's syntax: forest.sizes.small, not "forest..x" or "a b". */
export function assertKeySyntax(key: string): void {
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(key))
    throw new MorpheusError('USAGE', `"${key}" is not a dotted key like forest.sizes.small`)
}

function unknown(key: string, at: string, candidates: readonly string[], where: string): KeyCheck {
  const rest = key.slice(at ? at.length + 1 : 0).split('.')
  const near = candidates.find((c) => closeEnough(c, rest[0]))
  const message = `${key} is not a known key${near ? ` (did you mean "${[...(at ? [at] : []), near, ...rest.slice(1)].join('.')}"?)` : ''}`
  return {
    error: new MorpheusError('USAGE', message, {
      hint:
        candidates.length > 0
          ? `Keys ${where}: ${candidates.join(', ')}. Every key is described in config.example.yaml.`
          : 'Every key is described in config.example.yaml.',
    }),
    known: false,
  }
}

/** Is `dotted` a key Morpheus knows (or one under a plugin it cannot check)? */
export function checkKey(dotted: string, schemas: KeySchemas): KeyCheck {
  const parts = dotted.split('.')
  let schema: ConfigSchema = coreSchema
  let at = ''
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]
    const key = at ? `${at}.${part}` : part
    // Plugin sections: providers.<name>.* and registry.*.
    if (key === 'registry') {
      if (i === parts.length - 1) return {known: true, schema: coreSchema.registry}
      if (!schemas.registry) return {known: 'unchecked', note: 'the selected registry backend is not installed'}
      schema = schemas.registry
      at = key
      continue
    }
    if (at === 'providers') {
      const own = schemas.providers.get(part)
      if (!own) {
        const installed = [...schemas.providers.keys()]
        if (installed.some((p) => closeEnough(p, part))) return unknown(dotted, at, installed, 'under providers (installed providers)')
        return {known: 'unchecked', note: `no provider "${part}" is installed (installed: ${installed.join(', ')})`}
      }
      if (i === parts.length - 1) return {known: true, schema: coreSchema.providers.values}
      schema = own
      at = key
      continue
    }
    const found = schema[part]
    if (!found) return unknown(dotted, at, Object.keys(schema), at ? `under ${at}` : 'at the top level')
    if (i === parts.length - 1) return {known: true, schema: found}
    if (found.type === 'object') {
      schema = found.properties ?? {}
    } else if (found.type === 'map' && key !== 'providers') {
      // forest.sizes.<any name>, secrets.<any name>: the entry's own schema, nothing below it.
      if (i + 1 === parts.length - 1) return {known: true, schema: found.values}
      return {
        error: new MorpheusError(
          'USAGE',
          `${dotted} is not a known key: ${at ? `${at}.` : ''}${part}.${parts[i + 1]} holds a single value`,
        ),
        known: false,
      }
    } else if (found.type !== 'map') {
      return {error: new MorpheusError('USAGE', `${dotted} is not a known key: ${key} holds a single value`), known: false}
    }
    at = key
  }
  return {known: true}
}

export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {...base}
  for (const [k, v] of Object.entries(over))
    out[k] = isPlainObject(v) && isPlainObject(base[k]) ? deepMerge(base[k] as Record<string, unknown>, v) : v
  return out
}

/**
 * What is in effect: the defaults (the core's, each installed provider's, the selected registry
 * backend's) with what the file says over them, `${ENV}` references as written.
 */
export function effectiveConfig(config: LoadedConfig, installed: InstalledPlugins, registryType: string): Record<string, unknown> {
  const providers: Record<string, unknown> = {...config.values.providers}
  for (const d of installed.providers) {
    if (d.configSchema) providers[d.name] = withDefaults(d.configSchema)
  }
  const backend = installed.registries.find((d) => d.name === registryType || d.aliases?.includes(registryType))
  const defaults: Record<string, unknown> = {
    ...config.values,
    providers,
    registry: {type: registryType, ...withDefaults(backend?.configSchema ?? {})},
  }
  return deepMerge(defaults, config.raw)
}
