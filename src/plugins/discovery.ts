import type {Config} from '@oclif/core'

import {MorpheusError} from '../errors.js'
import {installCommand, missingBackendHint} from './install-hint.js'
import {PLUGIN_API_VERSION, PROVIDERS_HOOK, REGISTRIES_HOOK} from '../plugin-api/index.js'
import type {ProviderDescriptor, RegistryDescriptor} from '../plugin-api/index.js'

export interface PluginInfo {
  name: string
  version: string
  /** core (bundled), user (installed with `morpheus plugins install`) or link. */
  type: string
}

export interface Entry<D> {
  descriptor: D
  plugin: PluginInfo
}

export interface Catalog<D> {
  kind: 'provider' | 'registry backend'
  /** Usable descriptors by name (aliases resolve through `resolve`). */
  entries: Entry<D>[]
  /** Descriptors refused because they speak another plugin API version. */
  incompatible: Array<Entry<{name: string; apiVersion: unknown}>>
  warnings: string[]
  /** Names offered by more than one plugin (a user-installed or linked plugin's name replaces a bundled one's: no conflict). */
  conflicts: Array<{name: string; plugins: PluginInfo[]}>
}

type AnyDescriptor = {name: string; aliases?: readonly string[]; apiVersion: number; summary: string; load: () => Promise<unknown>}

/** Per-hook time limit. An empty, zero or non-numeric value must not turn the limit off (oclif treats 0/NaN as "no timeout"). */
function hookTimeoutMs(): number {
  const ms = Number(process.env.MORPHEUS_HOOK_TIMEOUT_MS)
  return Number.isFinite(ms) && ms > 0 ? ms : 5000
}

const ABANDONED = Symbol.for('morpheus.abandonedHooks')

/**
 * How many plugin hooks timed out in this process. A timed-out hook is abandoned, not
 * stopped: a timer or socket it holds would keep the process alive after the command
 * is done, so bin/run.js exits explicitly when this is non-zero (it reads the symbol).
 */
function abandonedHooks(): number {
  return (globalThis as Record<symbol, number | undefined>)[ABANDONED] ?? 0
}

function label(p: PluginInfo): string {
  return `${p.name}@${p.version}`
}

const NAME = /^[a-z][a-z0-9-]*$/

/** What every plugin API version has in common: an object with a name. */
function nameProblem(d: unknown): string | undefined {
  const x = d as Partial<AnyDescriptor> | null
  if (!x || typeof x !== 'object') return 'is not an object'
  if (typeof x.name !== 'string' || !NAME.test(x.name)) return 'has no valid name (lower-case letters, digits and dashes)'
  return undefined
}

const NATS_MODES = new Set(['embedded', 'system'])

/** The rest of a version-2 descriptor, checked so one malformed plugin cannot break commands for every other. */
function shapeProblem(d: unknown, hook: string): string | undefined {
  const x = d as Partial<AnyDescriptor> & {capabilities?: Record<string, unknown>; secrets?: unknown; templates?: unknown; setup?: unknown}
  if (typeof x.load !== 'function') return `"${x.name}" has no load() function`
  if (typeof x.summary !== 'string') return `"${x.name}" has no summary`
  if (x.aliases !== undefined && (!Array.isArray(x.aliases) || x.aliases.some((a) => typeof a !== 'string' || !NAME.test(a))))
    return `"${x.name}" has aliases that are not a list of valid names`
  if (
    x.secrets !== undefined &&
    (!Array.isArray(x.secrets) || x.secrets.some((s) => typeof s !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(s)))
  )
    return `"${x.name}" declares secrets that are not a list of key names`
  if (x.templates !== undefined && (typeof x.templates !== 'string' || !x.templates.startsWith('/')))
    return `"${x.name}" gives a templates directory that is not an absolute path`
  const caps = x.capabilities
  if (!caps || typeof caps !== 'object') return `"${x.name}" has no capabilities`
  if (hook === PROVIDERS_HOOK) {
    if (!Array.isArray(caps.natsModes) || caps.natsModes.length === 0 || caps.natsModes.some((m) => !NATS_MODES.has(m)))
      return `"${x.name}" lists no valid capabilities.natsModes (embedded, system)`
    for (const key of ['cloud', 'machineLocal']) if (typeof caps[key] !== 'boolean') return `"${x.name}" has no boolean capabilities.${key}`
    if (!Number.isInteger(caps.maxParallel) || (caps.maxParallel as number) < 1)
      return `"${x.name}" has no capabilities.maxParallel (an integer of at least 1)`
  } else if (typeof caps.remote !== 'boolean') {
    return `"${x.name}" has no boolean capabilities.remote`
  } else if (x.setup !== undefined) {
    const s = x.setup as {choices?: unknown; load?: unknown; secrets?: unknown} | null
    const choice = (c: unknown) =>
      typeof (c as {value?: unknown})?.value === 'string' &&
      NAME.test((c as {value: string}).value) &&
      typeof (c as {title?: unknown}).title === 'string'
    if (!s || typeof s !== 'object' || typeof s.load !== 'function' || !Array.isArray(s.choices) || !s.choices.every(choice))
      return `"${x.name}" offers a set-up without load() or a list of choices ({value, title})`
    if (
      s.secrets !== undefined &&
      (!Array.isArray(s.secrets) || s.secrets.some((n) => typeof n !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)))
    )
      return `"${x.name}" offers a set-up whose secrets are not a list of key names`
  }
  return undefined
}

/**
 * Ask every installed plugin's hook for its descriptors, in parallel with a timeout.
 * A plugin whose hook fails or times out is named in a warning and the others still count.
 */
export async function discover<D extends AnyDescriptor>(
  config: Config,
  hook: typeof PROVIDERS_HOOK | typeof REGISTRIES_HOOK,
): Promise<Catalog<D>> {
  const kind = hook === PROVIDERS_HOOK ? 'provider' : 'registry backend'
  const catalog: Catalog<D> = {conflicts: [], entries: [], incompatible: [], kind, warnings: []}
  const timeout = hookTimeoutMs()
  // Typed by src/plugins/hooks.ts; what each plugin answered is checked below all the same.
  const result = await config.runHook(hook, {}, timeout, true)
  const info = (p: {name: string; version: string; type: string}): PluginInfo => ({name: p.name, type: p.type, version: p.version})

  for (const failure of result.failures as Array<{error: Error; plugin: {name: string; version: string; type: string}}>) {
    // oclif's own message for a hook that outran the timeout.
    if (failure.error?.message === `Timed out after ${timeout} ms.`) {
      ;(globalThis as Record<symbol, number | undefined>)[ABANDONED] = abandonedHooks() + 1
    }
    catalog.warnings.push(`plugin ${label(info(failure.plugin))} could not list its ${kind}s: ${failure.error.message}`)
  }
  const byName = new Map<string, Entry<D>>()
  const candidates: Entry<D>[] = []
  const successes = result.successes as Array<{plugin: {name: string; version: string; type: string}; result: unknown}>
  for (const success of successes.sort((a, b) => a.plugin.name.localeCompare(b.plugin.name))) {
    const plugin = info(success.plugin)
    if (!Array.isArray(success.result)) {
      catalog.warnings.push(`plugin ${label(plugin)} answered ${hook} with something other than a list of descriptors; ignored`)
      continue
    }
    for (const d of success.result) {
      const problem = nameProblem(d)
      if (problem) {
        catalog.warnings.push(`plugin ${label(plugin)} offers a ${kind} that ${problem}; ignored`)
        continue
      }
      const descriptor = d as D
      // Before the shape: a descriptor for another API version may well be shaped differently.
      if (descriptor.apiVersion !== PLUGIN_API_VERSION) {
        catalog.incompatible.push({descriptor: {apiVersion: descriptor.apiVersion, name: descriptor.name}, plugin})
        catalog.warnings.push(incompatibleMessage(kind, descriptor.name, descriptor.apiVersion, plugin))
        continue
      }
      const shape = shapeProblem(d, hook)
      if (shape) {
        catalog.warnings.push(`plugin ${label(plugin)} offers a ${kind} that ${shape}; ignored`)
        continue
      }
      candidates.push({descriptor, plugin})
    }
  }
  // A plugin the user installed (or linked) replaces a bundled one offering the same name:
  // that is what installing it is for (a newer or patched provider-local, say). oclif already
  // loads a user plugin instead of a bundled one of the same package name; this covers a
  // package of another name. Two bundled plugins, or two installed ones, still clash.
  const userNames = new Set(candidates.filter((e) => isUserPlugin(e.plugin)).flatMap((e) => names(e.descriptor)))
  for (const entry of candidates) {
    if (!isUserPlugin(entry.plugin) && names(entry.descriptor).some((n) => userNames.has(n))) continue
    for (const name of names(entry.descriptor)) {
      const other = byName.get(name)
      if (other && other.plugin.name !== entry.plugin.name) {
        const existing = catalog.conflicts.find((c) => c.name === name)
        if (existing) existing.plugins.push(entry.plugin)
        else catalog.conflicts.push({name, plugins: [other.plugin, entry.plugin]})
      } else {
        byName.set(name, entry)
      }
    }
    catalog.entries.push(entry)
  }
  catalog.entries.sort((a, b) => a.descriptor.name.localeCompare(b.descriptor.name))
  return catalog
}

/** Installed by the user (`morpheus plugins install`) or linked (`plugins link`), not bundled. */
function isUserPlugin(p: PluginInfo): boolean {
  return p.type === 'user' || p.type === 'link'
}

function names(d: AnyDescriptor): string[] {
  return [d.name, ...(d.aliases ?? [])]
}

function incompatibleMessage(kind: string, name: string, apiVersion: unknown, plugin: PluginInfo): string {
  return `${kind} "${name}" from ${label(plugin)} was written for plugin API version ${JSON.stringify(apiVersion)}, but this morpheus speaks version ${PLUGIN_API_VERSION}; install a release of ${plugin.name} made for plugin API ${PLUGIN_API_VERSION}`
}

/** Refuse a catalog in which two plugins claim the same name (or, given names, one of those names). */
export function assertNoConflicts<D>(catalog: Catalog<D>, names?: readonly string[]): void {
  const c = catalog.conflicts.find((x) => !names || names.includes(x.name))
  if (!c) return
  throw new MorpheusError('PLUGIN', `${catalog.kind} name "${c.name}" is offered by ${c.plugins.map(label).join(' and ')}`, {
    hint: `Uninstall one of them: morpheus plugins uninstall ${c.plugins.find((p) => p.type !== 'core')?.name ?? c.plugins[1].name}`,
  })
}

/**
 * Find a descriptor by name or alias, or explain what is installed. `selectedBy` names the setting
 * that chose the name (registry.type): a name the config selects but no installed plugin offers is
 * a plugin problem (exit 8, like a plugin of another API version), with the command that installs it.
 */
export function resolve<D extends AnyDescriptor>(catalog: Catalog<D>, name: string, selectedBy?: string): Entry<D> {
  const found = catalog.entries.find((e) => e.descriptor.name === name || e.descriptor.aliases?.includes(name))
  // Only a clash on the name asked for (or on one of its names) stops this command; `providers` lists every clash.
  assertNoConflicts(catalog, found ? [found.descriptor.name, ...(found.descriptor.aliases ?? [])] : [name])
  if (found) return found
  const old = catalog.incompatible.find((e) => e.descriptor.name === name)
  if (old) throw new MorpheusError('PLUGIN', incompatibleMessage(catalog.kind, name, old.descriptor.apiVersion, old.plugin))
  const installed = catalog.entries.map((e) => e.descriptor.name)
  if (selectedBy !== undefined && catalog.kind === 'registry backend') {
    const {command, known} = installCommand(catalog.kind, name)
    throw new MorpheusError(
      'PLUGIN',
      `the registry backend "${name}" (${selectedBy}) is not installed; installed: ${installed.length > 0 ? installed.join(', ') : 'none'}`,
      {
        details: {backend: name, install: known ? command : null, installed, setting: selectedBy},
        hint: missingBackendHint(name),
      },
    )
  }
  const {command, known} = installCommand(catalog.kind, name)
  throw new MorpheusError(
    'USAGE',
    `unknown ${catalog.kind} "${name}"; installed: ${installed.length > 0 ? installed.join(', ') : 'none'}`,
    {
      hint: `${known ? `Install it with \`${command}\`` : `Install another with \`${command}\``}; \`morpheus ${catalog.kind === 'provider' ? 'providers' : 'registry backends'}\` lists what is installed.`,
    },
  )
}

export type ProviderCatalog = Catalog<ProviderDescriptor & AnyDescriptor>
export type RegistryCatalog = Catalog<RegistryDescriptor & AnyDescriptor>
