import {randomBytes} from 'node:crypto'

import * as Flags from '@oclif/core/flags'
import type {Config} from '@oclif/core'

import {configPath, expandEnv, loadConfig, readRawConfig, writeConfig, type LoadedConfig} from '../../config/config.js'
import {MorpheusError} from '../../errors.js'
import type {Logger, RegistryBackend, RegistryProbe} from '../../plugin-api/index.js'
import {NODE_MOUNT_SECRET, REGISTRY_SECRETS, type NodeMountSecret} from '../../registry/secret-store.js'
import {resolveSecret} from '../../config/secrets.js'
import {probeNow} from '../../registry/probe-cache.js'
import {RegistryStore, UNCHANGED} from '../../registry/store.js'
import {Runtime} from '../../runtime.js'
import {MorpheusCommand} from '../../ui/base-command.js'
import {unsafeWrites} from '../../forest/runtime-deps.js'

export type SetupChoice = 'new-box' | 'existing-box' | 'local'

export interface SetupOptions {
  setup?: SetupChoice
  /** A person can answer prompts. */
  interactive: boolean
  log: Logger
  // new box
  boxName?: string
  boxType?: string
  location?: string
  folder?: string
  apiEndpoint?: string
  webdavOrigin?: string
  // existing box
  url?: string
  username?: string
  passwordEnv?: string
  storageboxHost?: string
}

export interface CreatedBox {
  id: number
  name: string
  server: string
  username: string
  existed: boolean
}

/** The read-only account cloud nodes mount the registry's folder with (a Storage Box registry). */
export interface NodeAccountResult {
  /** Made (or its password reset) through the Hetzner API, credentials kept in the registry's secret storage. */
  created: boolean
  username?: string
  server?: string
  home_directory?: string
  /** Why none was made, and what to do by hand. */
  reason?: string
  hint?: string
}

export interface InitResult {
  location: string
  created: boolean
  probe: RegistryProbe
  setup?: {choice: SetupChoice; config: string; box?: CreatedBox; node_account?: NodeAccountResult}
}

/** A Runtime that reads a config given in memory (another registry section, a config not written yet). */
class RuntimeWith extends Runtime {
  constructor(oclif: Config, private readonly given: LoadedConfig, log: Logger) {
    super(oclif, log)
  }

  override get config(): LoadedConfig {
    return this.given
  }
}

/** The registry backend a `registry:` section describes, without touching the config file. */
export async function backendFor(oclif: Config, base: LoadedConfig, section: Record<string, unknown>, log: Logger): Promise<{runtime: Runtime; backend: RegistryBackend; name: string}> {
  const runtime = new RuntimeWith(oclif, {...base, raw: {...base.raw, registry: section}, values: {...base.values, registry: section}}, log)
  const {backend, entry} = await runtime.registry()
  return {backend, name: entry.descriptor.name, runtime}
}

/** Probe now, and remember the answer for the store's later writes (src/registry/probe-cache). */
export async function probeBackend(backend: RegistryBackend, cacheDir: string): Promise<RegistryProbe> {
  return probeNow(backend, cacheDir)
}

/**
 * Probe (and remember the answer), then create the document if it is missing, through the store:
 * the same rule as every other write, so a store that cannot keep writes safe is refused unless
 * `unsafe` (--unsafe, registry.unsafe_writes, MORPHEUS_UNSAFE_WRITES=1).
 */
export async function initDocument(backend: RegistryBackend, cacheDir: string, unsafe = false, log?: Logger): Promise<{created: boolean; probe: RegistryProbe}> {
  const probe = await probeBackend(backend, cacheDir)
  const store = new RegistryStore(backend, {log, probe, unsafe})
  await store.read()
  if (store.revision !== null) return {created: false, probe}
  let created = false
  await store.update((doc) => {
    // Someone else may have created it in the meantime: then it exists, which is what was asked.
    created = store.revision === null
    return created ? doc : UNCHANGED
  }, {now: true})
  return {created, probe}
}

/** Whether the config file (its parsed text, `LoadedConfig.raw`) names a registry (registry.type), as opposed to the built-in default. */
export function registryConfigured(raw: Record<string, unknown>): boolean {
  return (raw.registry as Record<string, unknown> | undefined)?.type !== undefined
}

/** A password the Hetzner API accepts (upper, lower, digit, special) and YAML / ${ENV} leave alone. */
function newPassword(): string {
  return `${randomBytes(24).toString('base64url').replace(/[-_]/g, 'x')}Aa1-`
}

interface StorageBoxCreator {
  (options: {endpoint: string; token: string; name: string; type: string; location: string; password: string; signal?: AbortSignal; progress?: (m: string) => void; pollMs?: number}): Promise<CreatedBox>
}

interface NodeAccountCreator {
  (options: {endpoint: string; token: string; username: string; folder: string; password: string; signal?: AbortSignal; progress?: (m: string) => void}): Promise<{id: number; username: string; server: string; home_directory: string; existed: boolean}>
}

/** A function the storagebox plugin's `morpheus:registry-setup` hook offers under `name`. */
async function setupFunction<T>(oclif: Config, name: string, what: string): Promise<T> {
  const result = await oclif.runHook('morpheus:registry-setup', {})
  for (const s of result.successes) {
    for (const d of Array.isArray(s.result) ? s.result : []) {
      if (d?.name === name && typeof d.load === 'function') return (await d.load()) as T
    }
  }
  throw new MorpheusError('PLUGIN', `${what} needs the storagebox registry plugin (a version that offers it), which is not installed`, {hint: 'morpheus plugins install @morpheus/registry-storagebox'})
}

const storageBoxCreator = (oclif: Config) => setupFunction<StorageBoxCreator>(oclif, 'storagebox', 'creating a Storage Box')

/** The Hetzner API token with the CLI's one precedence (resolveSecret: the config, else HCLOUD_TOKEN, else HETZNER_API_TOKEN); '' when there is none. */
function apiToken(): string {
  return resolveSecret(loadConfig(), 'hetzner_api_token') ?? ''
}

/** How to make the nodes' read-only account by hand (the Hetzner console), for a registry in `folder` of `username`'s box. */
export function nodeAccountByHand(folder: string): string {
  return [
    `In the Hetzner console, add a sub-account to the Storage Box with home directory "${folder || '<the registry folder>'}", read-only, Samba/SMB on, WebDAV and SSH off;`,
    'then: morpheus config set registry.node_username u123456-subN && morpheus config set registry.node_password \'${NODE_MOUNT_PASSWORD}\'',
    '(or export HETZNER_API_TOKEN and run `morpheus registry init --setup existing-box ...` again to have it made).',
  ].join(' ')
}

/**
 * Give cloud nodes their own read-only account on the box, limited to the registry's folder, and
 * keep its credentials in the registry's secret storage: the registry's own read-write password
 * never goes into a node's user data. Without an API that knows the box, says how to do it by hand.
 */
export async function setUpNodeAccount(oclif: Config, backend: RegistryBackend, registry: {url: string; username: string}, options: {apiEndpoint?: string; log: Logger}, signal?: AbortSignal): Promise<NodeAccountResult> {
  let folder = ''
  try {
    folder = decodeURIComponent(new URL(registry.url).pathname).split('/').filter(Boolean).slice(0, -1).join('/')
  } catch {
    // the backend has refused a bad URL already
  }
  const manual = (reason: string): NodeAccountResult => {
    const hint = nodeAccountByHand(folder)
    options.log.warn(`No read-only account for the nodes was made: ${reason}. Cloud plants need one (the registry's own password never goes to a node). ${hint}`)
    return {created: false, hint, reason}
  }
  const token = apiToken()
  if (!token) return manual('no Hetzner API token (secrets.hetzner_api_token, HCLOUD_TOKEN or HETZNER_API_TOKEN) to make it with')
  // A backend from runtime.registry() is guarded, its secret store with it.
  const secrets = backend.secrets
  if (!secrets) return manual(`the registry at ${backend.location} keeps no secrets`)
  const create = await setupFunction<NodeAccountCreator>(oclif, 'storagebox-node-account', 'making the nodes\' read-only Storage Box account')
  const password = newPassword()
  let account
  try {
    account = await create({
      endpoint: options.apiEndpoint || process.env.HETZNER_ENDPOINT || 'https://api.hetzner.com/v1',
      folder,
      password,
      progress: (m) => options.log.info(`  ${m}`),
      signal,
      token,
      username: registry.username,
    })
  } catch (error) {
    const e = error as {message?: string; hint?: string; code?: string; noApi?: boolean}
    if (e.noApi) return manual(e.message ?? String(error))
    // A token that may not manage Storage Boxes: the registry itself works; say what to do.
    if (e.code === 'AUTH') return manual(`${e.message ?? String(error)} (${e.hint ?? 'check the token'})`)
    throw new MorpheusError('REGISTRY', `making the nodes' read-only account: ${e.message ?? String(error)}`, {cause: error, hint: e.hint})
  }
  const kept: NodeMountSecret = {password, server: account.server, username: account.username}
  await secrets.set(REGISTRY_SECRETS, NODE_MOUNT_SECRET, JSON.stringify(kept))
  options.log.info(`  Cloud nodes will mount the registry folder read-only as ${account.username} (credentials kept in the registry's secret storage)`)
  return {created: true, home_directory: account.home_directory, server: account.server, username: account.username}
}

async function ask<T>(interactive: boolean, value: T | undefined, flag: string, prompt: () => Promise<T>): Promise<T> {
  if (value !== undefined && value !== '') return value
  if (!interactive) throw new MorpheusError('USAGE', `${flag} is required without a terminal`, {hint: `Pass ${flag}, or run \`morpheus registry init\` in a terminal to be asked.`})
  return prompt()
}

/**
 * The guided set-up of the seeds (`registry init`, and `plant` on a terminal with no registry
 * configured): create a new Storage Box, use an existing one, or stay local. Writes the config
 * (mode 0600) only after the new registry answered the probe, then creates the document.
 */
export async function setUpRegistry(oclif: Config, options: SetupOptions, signal?: AbortSignal): Promise<InitResult> {
  const path = configPath()
  const {raw} = readRawConfig(path)
  let choice = options.setup
  if (!choice) {
    if (!options.interactive) throw new MorpheusError('USAGE', 'no registry set-up chosen and no terminal to ask', {hint: 'Run `morpheus registry init --setup new-box|existing-box|local` (see --help for the flags each needs).'})
    const {select} = await import('@inquirer/prompts')
    options.log.info('Morpheus needs a place to store forest state; a shared one lets you run morpheus from any device.')
    choice = await select<SetupChoice>({
      choices: [
        {name: 'Create a new Hetzner Storage Box (~3 EUR/month)', value: 'new-box'},
        {name: 'Use an existing Storage Box (or another WebDAV server)', value: 'existing-box'},
        {name: 'Skip: local only (this device only)', value: 'local'},
      ],
      default: 'new-box',
      message: 'Where should the registry live?',
    })
  }
  let section: Record<string, unknown>
  let box: CreatedBox | undefined
  if (choice === 'local') {
    section = {type: 'none'}
  } else if (choice === 'existing-box') {
    const {input, password} = await import('@inquirer/prompts')
    const url = await ask(options.interactive, options.url, '--url', () => input({message: 'WebDAV URL of the registry document', default: 'https://u123456.your-storagebox.de/morpheus/registry.json'}))
    const username = await ask(options.interactive, options.username, '--username', () => input({message: 'User name (e.g. u123456)'}))
    let secret: string
    if (options.passwordEnv) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(options.passwordEnv)) throw new MorpheusError('USAGE', `--password-env must name an environment variable, not "${options.passwordEnv}"`)
      if (!process.env[options.passwordEnv]) throw new MorpheusError('USAGE', `--password-env ${options.passwordEnv}: that variable is not set`, {hint: `export ${options.passwordEnv}=... first (the config keeps only the reference \${${options.passwordEnv}})`})
      secret = `\${${options.passwordEnv}}`
    } else {
      secret = await ask(options.interactive, undefined as string | undefined, '--password-env', () => password({mask: '*', message: 'Password (kept in the config file, mode 0600)'}))
    }
    let host = options.storageboxHost
    try {
      host ??= new URL(url).hostname
    } catch {
      // the backend names the bad URL
    }
    section = {password: secret, storagebox_host: host, type: 'storagebox', url, username}
  } else {
    const token = apiToken()
    if (!token) throw new MorpheusError('CONFIG', 'creating a Storage Box needs a Hetzner API token', {hint: 'export HETZNER_API_TOKEN=... (a read-write token of your project), or set secrets.hetzner_api_token.'})
    const endpoint = options.apiEndpoint || process.env.HETZNER_ENDPOINT || 'https://api.hetzner.com/v1'
    const create = await storageBoxCreator(oclif)
    const secret = newPassword()
    try {
      box = await create({
        endpoint,
        location: options.location ?? 'fsn1',
        name: options.boxName ?? 'morpheus-registry',
        password: secret,
        progress: (m) => options.log.info(`  ${m}`),
        signal,
        token,
        type: options.boxType ?? 'bx11',
      })
    } catch (error) {
      const e = error as {message?: string; hint?: string; code?: string}
      throw new MorpheusError(e.code === 'AUTH' ? 'CONFIG' : 'REGISTRY', e.message ?? String(error), {cause: error, hint: e.hint})
    }
    const origin = (options.webdavOrigin ?? `https://${box!.server}`).replace(/\/$/, '')
    const folder = (options.folder ?? 'morpheus').replace(/^\/+|\/+$/g, '')
    section = {password: secret, storagebox_host: box!.server, type: 'storagebox', url: `${origin}/${folder ? `${folder}/` : ''}registry.json`, username: box!.username}
  }

  // Try the new registry before the config points at it: a wrong URL or password loses nothing.
  const base = loadConfig()
  const {backend} = await backendFor(oclif, base, expandEnv(section, path, process.env, 'registry') as Record<string, unknown>, options.log)
  const {created, probe} = await initDocument(backend, oclif.cacheDir)
  const nodeAccount = choice === 'local' ? undefined : await setUpNodeAccount(oclif, backend, {url: String(section.url), username: String(section.username)}, {apiEndpoint: options.apiEndpoint, log: options.log}, signal)
  raw.registry = section
  writeConfig(path, raw)
  options.log.info(`Saved the registry settings to ${path} (mode 0600)`)
  return {created, location: backend.location, probe, setup: {choice, config: path, ...(box ? {box} : {}), ...(nodeAccount ? {node_account: nodeAccount} : {})}}
}

export default class RegistryInit extends MorpheusCommand {
  static summary = 'Set up the registry: a new Hetzner Storage Box, an existing one, or local only; or create the document where the config points.'
  static description = `With a registry in the config (registry.type set), probes it (what the server enforces to keep concurrent writes safe), refuses one that cannot, and creates an empty document if none exists: idempotent.

Otherwise, on a terminal, asks where the registry should live (--setup skips the question):
  new-box       creates a Storage Box through the Hetzner API (HETZNER_API_TOKEN), waits until it is ready, switches on WebDAV, SMB and external reachability, and sets a generated password;
  existing-box  uses a Storage Box (or any WebDAV server) you have: --url, --username, --password-env;
For either box, a read-only sub-account limited to the registry's folder is made (or its password reset) through the Hetzner API for cloud nodes to mount the registry with; its credentials go to the registry's secret storage, and the registry's own password never reaches a node. Without an API token, or for a box the token's project does not have, it says how to make one by hand (registry.node_username, registry.node_password).
  local         keeps the registry in a file on this device.
The config file (mode 0600) is written only after the new registry answered. Without a terminal every choice comes from flags.`
  static examples = [
    '<%= config.bin %> registry init',
    '<%= config.bin %> registry init --yes --json',
    '<%= config.bin %> registry init --setup new-box --location fsn1',
    'STORAGEBOX_PASSWORD=... <%= config.bin %> registry init --setup existing-box --url https://u123456.your-storagebox.de/morpheus/registry.json --username u123456 --password-env STORAGEBOX_PASSWORD',
    '<%= config.bin %> registry init --setup local',
  ]
  static flags = {
    yes: Flags.boolean({char: 'y', description: 'Do not ask: with a registry configured, probe it and create the document if missing.'}),
    unsafe: Flags.boolean({description: 'Create the document even if the backend cannot make concurrent writes safe.'}),
    setup: Flags.string({description: 'Where the registry should live.', options: ['new-box', 'existing-box', 'local']}),
    'box-name': Flags.string({description: 'New box: its name (an existing box of that name is reused).', default: 'morpheus-registry'}),
    'box-type': Flags.string({description: 'New box: Storage Box type.', default: 'bx11'}),
    location: Flags.string({description: 'New box: location.', default: 'fsn1'}),
    folder: Flags.string({description: 'New box: folder of the document on the box.', default: 'morpheus'}),
    'api-endpoint': Flags.string({description: 'New box: Hetzner API base URL (default $HETZNER_ENDPOINT or https://api.hetzner.com/v1).'}),
    'webdav-origin': Flags.string({description: 'New box: reach its WebDAV here instead of https://<server> (a proxy).', hidden: true}),
    url: Flags.string({description: "Existing box: the document's WebDAV URL."}),
    username: Flags.string({description: 'Existing box: WebDAV user.'}),
    'password-env': Flags.string({description: 'Existing box: name of the environment variable holding the password (the config keeps ${NAME}).'}),
    'storagebox-host': Flags.string({description: 'Existing box: host nodes mount over CIFS (default: the URL\'s host).'}),
  }

  async run(): Promise<InitResult> {
    const {flags} = await this.parse(RegistryInit)
    if (flags.setup || (!registryConfigured(this.runtime.config.raw) && this.interactive && !flags.yes)) {
      const result = await setUpRegistry(this.config, {
        apiEndpoint: flags['api-endpoint'],
        boxName: flags['box-name'],
        boxType: flags['box-type'],
        folder: flags.folder,
        interactive: this.interactive,
        location: flags.location,
        log: this.runtime.log,
        passwordEnv: flags['password-env'],
        setup: flags.setup as SetupChoice | undefined,
        storageboxHost: flags['storagebox-host'],
        url: flags.url,
        username: flags.username,
        webdavOrigin: flags['webdav-origin'],
      }, this.runtime.signal)
      if (!this.jsonEnabled()) this.log(`${result.created ? 'Created' : 'Found'} the registry at ${result.location} (writes: ${result.probe.concurrency})`)
      return result
    }
    const {backend} = await this.runtime.registry()
    const {created, probe} = await initDocument(backend, this.config.cacheDir, unsafeWrites(this.runtime, flags.unsafe), this.runtime.log)
    if (!this.jsonEnabled()) {
      this.log(`${created ? 'Created' : 'Found'} the registry at ${backend.location} (writes: ${probe.concurrency})`)
      for (const note of probe.notes) this.log(`  ${note}`)
    }
    return {created, location: backend.location, probe}
  }
}
