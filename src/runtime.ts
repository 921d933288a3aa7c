import type {Config} from '@oclif/core'

import {expandEnv, isSecretKey, loadConfig, pluginSection, resolveConfigPath, type LoadedConfig} from './config/config.js'
import {MorpheusError, fromPluginError} from './errors.js'
import type {ConfigSchema, Logger, NatsPorts, PluginContext, PluginErrorCode, PluginErrorShape, Provider, ProviderDescriptor, RegistryBackend, RegistryDescriptor} from './plugin-api/index.js'
import {PROVIDERS_HOOK, REGISTRIES_HOOK} from './plugin-api/index.js'
import {discover, resolve, type Entry, type ProviderCatalog, type RegistryCatalog} from './plugins/discovery.js'
import {createRenderer} from './templates/render.js'

export interface LoadedProvider {
  entry: Entry<ProviderDescriptor>
  provider: Provider
}

export function stderrLogger(quiet = false): Logger {
  const debug = Boolean(process.env.MORPHEUS_DEBUG)
  return {
    debug: (m) => {
      if (debug) process.stderr.write(`debug: ${m}\n`)
    },
    info: (m) => {
      if (!quiet) process.stderr.write(`${m}\n`)
    },
    warn: (m) => process.stderr.write(`warning: ${m}\n`),
  }
}

function pluginError(code: PluginErrorCode, message: string, hint?: string): PluginErrorShape {
  return Object.assign(new Error(message), {code, hint})
}

/**
 * Everything a command needs, loaded lazily: the config file, the plugin catalogs,
 * the chosen provider and registry backend. Nothing here runs at start-up.
 */
export class Runtime {
  private loaded?: LoadedConfig
  private providerCatalog?: Promise<ProviderCatalog>
  private registryCatalog?: Promise<RegistryCatalog>

  constructor(readonly oclif: Config, readonly log: Logger = stderrLogger()) {}

  get config(): LoadedConfig {
    this.loaded ??= loadConfig()
    return this.loaded
  }

  providers(): Promise<ProviderCatalog> {
    this.providerCatalog ??= discover<ProviderCatalog['entries'][number]['descriptor']>(this.oclif, PROVIDERS_HOOK).then((c) => this.warnAbout(c))
    return this.providerCatalog
  }

  registries(): Promise<RegistryCatalog> {
    this.registryCatalog ??= discover<RegistryCatalog['entries'][number]['descriptor']>(this.oclif, REGISTRIES_HOOK).then((c) => this.warnAbout(c))
    return this.registryCatalog
  }

  private warnAbout<C extends {warnings: string[]}>(catalog: C): C {
    for (const w of catalog.warnings) this.log.warn(w)
    return catalog
  }

  get ports(): NatsPorts {
    const forest = this.config.values.forest as {ports: NatsPorts}
    return forest.ports
  }

  /** `cloud` stands for the configured cloud provider (infrastructure.provider). */
  async providerName(requested: string): Promise<string> {
    if (requested !== 'cloud') return requested
    const configured = (this.config.values.infrastructure as {provider: string}).provider
    const catalog = await this.providers()
    if (!catalog.entries.some((e) => e.descriptor.name === configured || e.descriptor.aliases?.includes(configured))) {
      throw new MorpheusError('USAGE', `"cloud" means the provider "${configured}" (infrastructure.provider in ${this.config.path}), which is not installed; installed: ${catalog.entries.map((e) => e.descriptor.name).join(', ')}`, {
        hint: `Install it (morpheus plugins install @morpheus/provider-${configured}) or set another: morpheus config set infrastructure.provider <name>`,
      })
    }
    return configured
  }

  private async context(prefix: string, schema: ProviderDescriptor['configSchema'], section: Record<string, unknown>, ignore: string[] = []): Promise<PluginContext> {
    return {
      config: pluginSection(this.config, prefix, schema, section, ignore),
      configDir: this.config.dir,
      resolvePath: (value) => resolveConfigPath(this.config, value),
      dataDir: this.oclif.dataDir,
      error: pluginError,
      log: this.log,
      ports: this.ports,
      templates: await createRenderer(),
    }
  }

  async provider(name: string): Promise<LoadedProvider> {
    const entry = resolve(await this.providers(), await this.providerName(name))
    const d = entry.descriptor
    const all = (this.config.values.providers ?? {}) as Record<string, Record<string, unknown>>
    const section = all[d.name] ?? {}
    const context = await this.context(`providers.${d.name}`, d.configSchema, section)
    try {
      const factory = await d.load()
      return {entry, provider: await factory(context)}
    } catch (error) {
      throw fromPluginError(error, `provider ${d.name} (${entry.plugin.name})`, 'PROVIDER')
    }
  }

  /**
   * Is a dotted config key a secret? By name, by the core's schema, or by an installed
   * plugin's schema (`secret: true` under providers.<name> or registry).
   */
  async secretKeys(): Promise<(dotted: string) => boolean> {
    const keys = new Set<string>()
    const add = (prefix: string, schema: ConfigSchema | undefined) => {
      for (const [k, v] of Object.entries(schema ?? {})) {
        if (v.secret) keys.add(`${prefix}.${k}`)
        if (v.type === 'object') add(`${prefix}.${k}`, v.properties)
      }
    }
    for (const e of (await this.providers()).entries) add(`providers.${e.descriptor.name}`, e.descriptor.configSchema)
    for (const e of (await this.registries()).entries) add('registry', e.descriptor.configSchema)
    return (dotted) => keys.has(dotted) || isSecretKey(dotted)
  }

  registryType(): string {
    const section = (this.config.values.registry ?? {}) as Record<string, unknown>
    return typeof section.type === 'string' ? String(expandEnv(section.type, this.config.path, process.env, 'registry.type')) : 'none'
  }

  private backend?: Promise<{entry: Entry<RegistryDescriptor>; backend: RegistryBackend}>

  registry(): Promise<{entry: Entry<RegistryDescriptor>; backend: RegistryBackend}> {
    this.backend ??= (async () => {
      const entry = resolve(await this.registries(), this.registryType())
      const d = entry.descriptor
      const section = (this.config.values.registry ?? {}) as Record<string, unknown>
      const context = await this.context('registry', d.configSchema, section, ['type'])
      try {
        const factory = await d.load()
        return {backend: await factory(context), entry}
      } catch (error) {
        throw fromPluginError(error, `registry backend ${d.name} (${entry.plugin.name})`, 'REGISTRY')
      }
    })()
    return this.backend
  }
}
