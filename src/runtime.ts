import type {Config} from '@oclif/core'

import {configPath, expandEnv, isSecretKey, pluginSection, resolveConfigPath, type LoadedConfig} from './config/config.js'
import type {InstalledPlugins} from './config/keys.js'
import {resolveSecret} from './config/secrets.js'
import {MorpheusError} from './errors.js'
import {deviceId} from './device.js'
import type {
  ConfigSchema,
  Logger,
  NatsPorts,
  NodeAccess,
  PluginContext,
  Provider,
  ProviderDescriptor,
  RegistryBackend,
  RegistryDescriptor,
} from './plugin-api/index.js'
import {PLUGIN_API_VERSION, PROVIDERS_HOOK, REGISTRIES_HOOK} from './plugin-api/index.js'
import {discover, resolve, type Entry, type ProviderCatalog, type RegistryCatalog} from './plugins/discovery.js'
import {pluginError} from './plugins/errors.js'
import {fromPluginError, guardBackend, guardProvider} from './plugins/guard.js'
import {helpers} from './plugins/helpers.js'
import {readFileSync} from 'node:fs'
import type {CoreQuestions, InitResult} from './registry/setup.js'
import type {RegistryStore} from './registry/store.js'

export interface LoadedProvider {
  entry: Entry<ProviderDescriptor>
  provider: Provider
}

/** A Logger whose warnings may carry a code (the core's own; plugins' warnings have none). */
export interface CommandLogger extends Logger {
  warn(message: string, code?: string): void
}

/**
 * The command's logger: debug (MORPHEUS_DEBUG) and info (unless `quiet`) on stderr; warnings on
 * stderr as `warning: ...`, or, when `collect` is given (--json), into the JSON envelope instead.
 */
export function stderrLogger(quiet = false, collect?: (warning: {code?: string; message: string}) => void): CommandLogger {
  const debug = Boolean(process.env.MORPHEUS_DEBUG)
  return {
    debug: (m) => {
      if (debug) process.stderr.write(`debug: ${m}\n`)
    },
    info: (m) => {
      if (!quiet) process.stderr.write(`${m}\n`)
    },
    warn: (m, code) => {
      if (collect) collect(code ? {code, message: m} : {message: m})
      else process.stderr.write(`warning: ${m}\n`)
    },
  }
}

/**
 * Everything a command needs, loaded lazily: the config file, the plugin catalogs,
 * the chosen provider and registry backend. Nothing here runs at start-up.
 */
export class Runtime {
  private loaded?: LoadedConfig
  private readonly load: () => LoadedConfig
  private providerCatalog?: Promise<ProviderCatalog>
  private registryCatalog?: Promise<RegistryCatalog>

  /**
   * `config` is the command's config, or how to read it when first needed (a command that fixes a
   * broken config file never reads it whole). `interrupt` is shared with the runtime this one was
   * made from (withRegistry), so Ctrl-C reaches every plugin of the command.
   */
  constructor(
    readonly oclif: Config,
    config: LoadedConfig | (() => LoadedConfig),
    readonly log: CommandLogger = stderrLogger(),
    readonly interrupt = new AbortController(),
  ) {
    if (typeof config === 'function') this.load = config
    else {
      this.loaded = config
      this.load = () => config
    }
  }

  get signal(): AbortSignal {
    return this.interrupt.signal
  }

  get config(): LoadedConfig {
    this.loaded ??= this.load()
    return this.loaded
  }

  /** The same command with another `registry` section (`${ENV}` expanded): a backend to set up or migrate to, the config file untouched. */
  withRegistry(section: Record<string, unknown>): Runtime {
    const base = this.config
    const runtime = new Runtime(
      this.oclif,
      {...base, raw: {...base.raw, registry: section}, values: {...base.values, registry: section}},
      this.log,
      this.interrupt,
    )
    // The catalogs are the same plugins: asked once per command.
    runtime.providerCatalog = this.providerCatalog
    runtime.registryCatalog = this.registryCatalog
    return runtime
  }

  /** Is writing to a backend that cannot make writes safe allowed (--unsafe, registry.unsafe_writes, MORPHEUS_UNSAFE_WRITES=1)? */
  unsafeWrites(flag = false): boolean {
    const section = (this.config.values.registry ?? {}) as Record<string, unknown>
    return flag || section.unsafe_writes === true || process.env.MORPHEUS_UNSAFE_WRITES === '1'
  }

  /**
   * The command's registry store, made the one way (src/registry/open.ts): the probe remembered from
   * `registry init` (else probed before the first write), and a backend that cannot make writes safe
   * refused unless --unsafe (`unsafe`), registry.unsafe_writes or MORPHEUS_UNSAFE_WRITES=1.
   */
  async store(options: {unsafe?: boolean} = {}): Promise<RegistryStore> {
    const [{backend}, {openStore}] = await Promise.all([this.registry(), import('./registry/open.js')])
    return openStore(backend, {cacheDir: this.oclif.cacheDir, log: this.log, unsafe: this.unsafeWrites(options.unsafe)})
  }

  /**
   * The guided registry set-up (src/registry/setup.ts) with this command's plugins: `choice`, or
   * asked through `questions`; the config file it writes is the one this command reads.
   */
  async setUpRegistry(questions: CoreQuestions, choice?: string): Promise<InitResult> {
    const path = configPath()
    const {setUpRegistry} = await import('./registry/setup.js')
    return setUpRegistry(
      {
        backendFor: async (section) =>
          (await this.withRegistry(expandEnv(section, path, process.env, 'registry') as Record<string, unknown>).registry()).backend,
        cacheDir: this.oclif.cacheDir,
        configPath: path,
        context: (_descriptor, secrets) => this.context('registry', {secrets}, {}),
        log: this.log,
        questions,
        registries: (await this.registries()).entries,
      },
      choice,
    )
  }

  providers(): Promise<ProviderCatalog> {
    this.providerCatalog ??= discover<ProviderCatalog['entries'][number]['descriptor']>(this.oclif, PROVIDERS_HOOK).then((c) =>
      this.warnAbout(c),
    )
    return this.providerCatalog
  }

  registries(): Promise<RegistryCatalog> {
    this.registryCatalog ??= discover<RegistryCatalog['entries'][number]['descriptor']>(this.oclif, REGISTRIES_HOOK).then((c) =>
      this.warnAbout(c),
    )
    return this.registryCatalog
  }

  /** The installed providers' and registry backends' descriptors (what src/config/keys.ts checks keys against). */
  async installedPlugins(): Promise<InstalledPlugins> {
    const [providers, registries] = await Promise.all([this.providers(), this.registries()])
    return {providers: providers.entries.map((e) => e.descriptor), registries: registries.entries.map((e) => e.descriptor)}
  }

  private warnAbout<C extends {warnings: string[]}>(catalog: C): C {
    for (const w of catalog.warnings) this.log.warn(w, 'PLUGIN')
    return catalog
  }

  get ports(): NatsPorts {
    return this.config.values.forest.ports
  }

  /** `cloud` stands for the configured cloud provider (infrastructure.provider), which must be a cloud provider. */
  async providerName(requested: string): Promise<string> {
    if (requested !== 'cloud') return requested
    const configured = this.config.values.infrastructure.provider
    const catalog = await this.providers()
    const entry = catalog.entries.find((e) => e.descriptor.name === configured || e.descriptor.aliases?.includes(configured))
    if (entry && !entry.descriptor.capabilities.cloud) {
      throw new MorpheusError(
        'USAGE',
        `"cloud" means the provider "${configured}" (infrastructure.provider in ${this.config.path}), which is not a cloud provider`,
        {
          hint: `Plant with it by name (morpheus plant ${configured} ...), or set a cloud provider: morpheus config set infrastructure.provider <name> (see \`morpheus providers\`).`,
        },
      )
    }
    if (!entry) {
      throw new MorpheusError(
        'USAGE',
        `"cloud" means the provider "${configured}" (infrastructure.provider in ${this.config.path}), which is not installed; installed: ${catalog.entries.map((e) => e.descriptor.name).join(', ')}`,
        {
          hint: `Install it (morpheus plugins install @morpheus/provider-${configured}) or set another: morpheus config set infrastructure.provider <name>`,
        },
      )
    }
    return configured
  }

  /**
   * The secrets a plugin declares, each as resolveSecret gives it (the config's `secrets.<name>`, else
   * its environment variables); names set nowhere are left out.
   */
  declaredSecrets(names: readonly string[] = []): Record<string, string> {
    const out: Record<string, string> = {}
    for (const name of names) {
      const value = resolveSecret(this.config, name)
      if (value !== undefined) out[name] = value
    }
    return out
  }

  private async context(
    prefix: string,
    descriptor: {configSchema?: ConfigSchema; secrets?: readonly string[]; templates?: string},
    section: Record<string, unknown>,
    ignore: string[] = [],
  ): Promise<PluginContext> {
    return {
      apiVersion: PLUGIN_API_VERSION,
      config: pluginSection(this.config, prefix, descriptor.configSchema, section, ignore),
      configDir: this.config.dir,
      dataDir: this.oclif.dataDir,
      device: deviceId(),
      error: pluginError,
      helpers,
      log: this.log,
      ports: this.ports,
      resolvePath: (value) => resolveConfigPath(this.config, value),
      secrets: this.declaredSecrets(descriptor.secrets),
      signal: this.signal,
      templates: await this.renderer(descriptor.templates),
    }
  }

  /**
   * Templates: the user's templates.dir, then the plugin's own, then the core's; bootstrap settings read at the first userData().
   * Loaded on first use (Handlebars costs about 30 ms of start-up, and most commands never render a template).
   */
  private async renderer(pluginDir?: string) {
    const [{bootstrapSettings}, {createRenderer}] = await Promise.all([import('./templates/bootstrap.js'), import('./templates/render.js')])
    const dir = this.config.values.templates.dir
    return createRenderer({
      bootstrap: () =>
        bootstrapSettings(
          {
            integration: this.config.values.integration,
            nodeAccess: this.nodeAccess,
          },
          {readFile: (path) => readFileSync(path, 'utf8'), resolvePath: (path) => resolveConfigPath(this.config, path)},
        ),
      dirs: [...(dir ? [resolveConfigPath(this.config, dir)] : []), ...(pluginDir ? [pluginDir] : [])],
    })
  }

  /**
   * The provider `name` (or "cloud"), guarded. With `userData` (plant, grow, plant --dry-run: the
   * commands that render nodes' user data), a cloud provider gets what a node needs to reach the
   * registry (RegistryBackend.nodeAccess) read first; teardown and status never ask for it.
   */
  async provider(name: string, options: {userData?: boolean} = {}): Promise<LoadedProvider> {
    const entry = resolve(await this.providers(), await this.providerName(name))
    const d = entry.descriptor
    const all = this.config.values.providers ?? {}
    const section = all[d.name] ?? {}
    const context = await this.context(`providers.${d.name}`, d, section)
    // A cloud provider renders user data (templates.userData, which is synchronous): what it needs must be at hand by then.
    if (options.userData && d.capabilities.cloud) await this.loadNodeAccess()
    try {
      const factory = await d.load()
      return {entry, provider: guardProvider(await factory(context), d.name)}
    } catch (error) {
      throw fromPluginError(error, `provider ${d.name} (${entry.plugin.name})`, 'PROVIDER')
    }
  }

  /**
   * Is a dotted config key a secret? By name, by the core's schema, or by an installed
   * plugin's schema (`secret: true` under providers.<name> or registry). With `under`, only
   * keys at or below that one are asked about.
   */
  async secretKeys(under?: string): Promise<(dotted: string) => boolean> {
    // Only plugin sections (providers.*, registry) have secrets that plugins declare: for any other key (config get
    // forest.parallel) no plugin's hook needs to run, which saves loading every plugin's hook module.
    if (under !== undefined && !/^(providers|registry)(\.|$)/.test(under)) return (dotted) => isSecretKey(dotted)
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

  /** What a node needs to reach the registry (undefined: not asked yet; null: nothing, nodes get the registry file; an Error: asking failed). */
  private nodeAccess?: NodeAccess | Error | null

  /**
   * Ask the registry backend, once, what a node needs to reach it (its nodeAccess(), if it has one).
   * A failure is kept, not thrown: it is raised when a node's user data is rendered, so that a
   * dry run or plant fails there, naming what is missing, as any other user-data problem does.
   */
  private async loadNodeAccess(): Promise<void> {
    if (this.nodeAccess !== undefined) return
    try {
      const {backend} = await this.registry()
      this.nodeAccess = backend.nodeAccess ? await backend.nodeAccess({signal: this.signal}) : null
    } catch (caught) {
      this.nodeAccess = caught instanceof Error ? caught : new Error(String(caught))
    }
  }

  registryType(): string {
    const section = this.config.values.registry ?? {}
    return typeof section.type === 'string' ? String(expandEnv(section.type, this.config.path, process.env, 'registry.type')) : 'none'
  }

  private backend?: Promise<{entry: Entry<RegistryDescriptor>; backend: RegistryBackend}>

  registry(): Promise<{entry: Entry<RegistryDescriptor>; backend: RegistryBackend}> {
    this.backend ??= (async () => {
      const entry = resolve(await this.registries(), this.registryType(), 'registry.type')
      const d = entry.descriptor
      const section = this.config.values.registry ?? {}
      const context = await this.context('registry', d, section, ['type', 'unsafe_writes'])
      try {
        const factory = await d.load()
        return {backend: guardBackend(await factory(context)), entry}
      } catch (error) {
        throw fromPluginError(error, `registry backend ${d.name} (${entry.plugin.name})`, 'REGISTRY')
      }
    })()
    return this.backend
  }
}
