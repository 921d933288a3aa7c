/**
 * The guided set-up of the registry (`registry init`, and `plant` on a terminal with no registry
 * configured): a choice offered by an installed registry backend (RegistryDescriptor.setup, e.g. a
 * new Storage Box or an existing one), or `local` (a file on this device). The backend's set-up asks
 * its own questions through SetupQuestions; this module probes the registry it describes, creates
 * the document and writes the config (mode 0600) only after the new registry answered.
 *
 * Everything it touches comes in through SetupDeps, so it runs in a unit test on the in-memory
 * registry, with scripted answers and no terminal.
 */
import {readRawConfig, writeConfig} from '../config/config.js'
import {MorpheusError} from '../errors.js'
import {fromPluginError} from '../plugins/guard.js'
import type {
  Logger,
  PluginContext,
  RegistryBackend,
  RegistryDescriptor,
  RegistryProbe,
  RegistrySetup,
  SetupQuestions,
} from '../plugin-api/index.js'
import {probeNow} from './probe-cache.js'
import {openStore} from './open.js'
import {UNCHANGED} from './store.js'

/** The one choice the core itself offers: the registry in a file on this device. */
export const LOCAL_SETUP = 'local'

/** SetupQuestions, plus the one question the core asks itself: which set-up. */
export interface CoreQuestions extends SetupQuestions {
  /** Pick one of `choices` (asked only when `interactive`). */
  choose(question: {message: string; choices: ReadonlyArray<{value: string; title: string}>; default: string}): Promise<string>
}

export interface SetupDeps {
  /** The config file the registry section is written to. */
  configPath: string
  /** The installed registry backends (their descriptors, with any set-up they offer) and the plugin each comes from. */
  registries: ReadonlyArray<{descriptor: RegistryDescriptor; plugin: {name: string}}>
  /** A context for a set-up of `descriptor`: its `secrets` are the ones the offer declares. */
  context(descriptor: RegistryDescriptor, secrets: readonly string[]): Promise<PluginContext>
  /** The guarded backend a `registry` section describes (as the config file keeps it), without touching the config file. */
  backendFor(section: Record<string, unknown>): Promise<RegistryBackend>
  /** Where the probe's answer is remembered (src/registry/probe-cache). */
  cacheDir: string
  log: Logger
  questions: CoreQuestions
}

export interface InitResult {
  location: string
  created: boolean
  probe: RegistryProbe
  /** With a guided set-up: the choice, the config written, and what the backend's set-up reports (e.g. `box`, `node_account`). */
  setup?: {choice: string; config: string} & Record<string, unknown>
}

/** Whether the config file (its parsed text, `LoadedConfig.raw`) names a registry (registry.type), as opposed to the built-in default. */
export function registryConfigured(raw: Record<string, unknown>): boolean {
  return (raw.registry as Record<string, unknown> | undefined)?.type !== undefined
}

/**
 * Probe (and remember the answer), then create the document if it is missing, through the store:
 * the same rule as every other write, so a store that cannot keep writes safe is refused unless
 * `unsafe` (--unsafe, registry.unsafe_writes, MORPHEUS_UNSAFE_WRITES=1).
 */
export async function initDocument(
  backend: RegistryBackend,
  cacheDir: string,
  unsafe = false,
  log?: Logger,
): Promise<{created: boolean; probe: RegistryProbe}> {
  const probe = await probeNow(backend, cacheDir)
  const store = openStore(backend, {log, probe, unsafe})
  await store.read()
  if (store.revision !== null) return {created: false, probe}
  let created = false
  await store.update(
    (doc) => {
      // Someone else may have created it in the meantime: then it exists, which is what was asked.
      created = store.revision === null
      return created ? doc : UNCHANGED
    },
    {now: true},
  )
  return {created, probe}
}

interface Offered {
  value: string
  title: string
  descriptor?: RegistryDescriptor
  plugin?: string
}

/** Every set-up on offer: the installed backends' choices, then `local`. */
export function setupChoices(registries: SetupDeps['registries']): Offered[] {
  const offered: Offered[] = []
  for (const {descriptor, plugin} of registries) {
    for (const c of descriptor.setup?.choices ?? []) {
      if (c.value !== LOCAL_SETUP && !offered.some((o) => o.value === c.value))
        offered.push({descriptor, plugin: plugin.name, title: c.title, value: c.value})
    }
  }
  offered.push({title: 'Skip: local only (this device only)', value: LOCAL_SETUP})
  return offered
}

/**
 * Run the set-up `choice` (asked on a terminal when not given): the backend's set-up makes the
 * registry section, which is tried (probe, document) before the config points at it, so a wrong URL
 * or password loses nothing; then the set-up's `finish` (e.g. the nodes' read-only account), then
 * the config is written.
 */
export async function setUpRegistry(deps: SetupDeps, choice?: string): Promise<InitResult> {
  const offered = setupChoices(deps.registries)
  if (!choice) {
    if (!deps.questions.interactive)
      throw new MorpheusError('USAGE', 'no registry set-up chosen and no terminal to ask', {
        hint: `Run \`morpheus registry init --setup ${offered.map((o) => o.value).join('|')}\` (see --help for the flags each needs).`,
      })
    deps.log.info('Morpheus needs a place to store forest state; a shared one lets you run morpheus from any device.')
    choice = await deps.questions.choose({
      choices: offered.map(({title, value}) => ({title, value})),
      default: offered[0].value,
      message: 'Where should the registry live?',
    })
  }
  const offer = offered.find((o) => o.value === choice)
  if (!offer) {
    throw new MorpheusError(
      'PLUGIN',
      `the registry set-up "${choice}" is offered by no installed registry plugin (offered: ${offered.map((o) => o.value).join(', ')})`,
      {
        hint: 'Install the registry plugin that offers it (see `morpheus registry backends`), e.g. morpheus plugins install @morpheus/registry-storagebox for new-box and existing-box.',
      },
    )
  }
  let setup: RegistrySetup
  if (offer.descriptor) {
    const d = offer.descriptor
    const where = `registry backend ${d.name} (${offer.plugin})`
    try {
      const run = await d.setup!.load()
      setup = await run({choice, context: await deps.context(d, d.setup!.secrets ?? []), questions: deps.questions})
    } catch (error) {
      throw fromPluginError(error, where, 'REGISTRY')
    }
    if (!setup || typeof setup.section !== 'object' || typeof setup.section.type !== 'string') {
      throw new MorpheusError('PLUGIN', `${where}: its set-up "${choice}" returned no registry section with a type`)
    }
  } else {
    setup = {section: {type: 'none'}}
  }

  // Try the new registry before the config points at it: a wrong URL or password loses nothing.
  const backend = await deps.backendFor(setup.section)
  const {created, probe} = await initDocument(backend, deps.cacheDir)
  let finished: Record<string, unknown> | void = undefined
  if (setup.finish) {
    try {
      finished = await setup.finish(backend)
    } catch (error) {
      throw fromPluginError(error, `registry backend ${String(setup.section.type)} (${offer.plugin})`, 'REGISTRY')
    }
  }
  const {raw} = readRawConfig(deps.configPath)
  raw.registry = setup.section
  writeConfig(deps.configPath, raw)
  deps.log.info(`Saved the registry settings to ${deps.configPath} (mode 0600)`)
  return {created, location: backend.location, probe, setup: {choice, config: deps.configPath, ...setup.report, ...finished}}
}
