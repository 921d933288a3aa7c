import * as Flags from '@oclif/core/flags'

import {configPath, expandEnv, parseCliValue, readRawConfig, writeConfig} from '../../config/config.js'
import {MorpheusError} from '../../errors.js'
import {pluginMessage} from '../../plugins/guard.js'
import type {RegistryProbe} from '../../plugin-api/index.js'
import {parseDocument, serializeDocument} from '../../registry/document.js'
import {readRegistry} from '../../registry/update.js'
import {FOREST_SECRET_NAMES} from '../../forest/plant.js'
import {resolve} from '../../plugins/discovery.js'
import {MorpheusCommand} from '../../ui/base-command.js'
import {backendFor, probeBackend} from './init.js'
import {plural} from '../../words.js'

export interface MigrateResult {
  from: string
  to: string
  backend: string
  forest_count: number
  node_count: number
  overwrote: boolean
  /** Per-forest secrets (route credentials) copied with the document. */
  secret_count: number
  switched: boolean
  probe: RegistryProbe
}

export default class RegistryMigrate extends MorpheusCommand {
  static summary = 'Copy the registry document to another backend (e.g. from a local file to a Storage Box) and point the config at it.'
  static description = `The target's keys come from --set KEY=VALUE (values may be \${ENV} references, which the config keeps as they are). The copy is read back and compared before the config is switched; the old document is left untouched. A target that already holds forests or nodes is refused unless --force.`
  static examples = [
    "<%= config.bin %> registry migrate --to storagebox --set url=https://u123456.your-storagebox.de/morpheus/registry.json --set username=u123456 --set 'password=${STORAGEBOX_PASSWORD}'",
    '<%= config.bin %> registry migrate --to none --set path=registry.json --json',
  ]
  static flags = {
    to: Flags.string({description: 'Target backend (see `morpheus registry backends`).', required: true}),
    set: Flags.string({description: "A key of the target's registry section, KEY=VALUE (repeatable).", multiple: true, default: []}),
    force: Flags.boolean({description: 'Overwrite a target that already holds forests or nodes.'}),
    switch: Flags.boolean({allowNo: true, default: true, description: 'Point the config at the target afterwards.'}),
  }

  async run(): Promise<MigrateResult> {
    const {flags} = await this.parse(RegistryMigrate)
    const section: Record<string, unknown> = {type: flags.to}
    for (const pair of flags.set) {
      const eq = pair.indexOf('=')
      if (eq <= 0) throw new MorpheusError('USAGE', `--set "${pair.replace(/=.*/, '=...')}" is not KEY=VALUE`)
      const key = pair.slice(0, eq)
      if (!/^[A-Za-z0-9_]+$/.test(key) || key === 'type') throw new MorpheusError('USAGE', `--set ${key}: not a key of a registry section`, {hint: 'The target backend is given by --to.'})
      section[key] = parseCliValue(pair.slice(eq + 1))
    }
    const {backend: source} = await this.runtime.registry()
    const {doc, revision} = await readRegistry(source)
    if (revision === null) throw new MorpheusError('NOT_FOUND', `there is no registry document at ${source.location} to migrate`, {hint: 'Point the config at the new backend instead: `morpheus registry init`.'})
    const path = configPath()
    const expanded = expandEnv(section, path, process.env, 'registry') as Record<string, unknown>
    // --to is an argument: a backend no plugin offers is a usage error (exit 2), with the command that installs it.
    resolve(await this.runtime.registries(), String(expanded.type))
    const {backend: target, name} = await backendFor(this.config, this.runtime.config, expanded, this.runtime.log)
    if (target.location === source.location) throw new MorpheusError('USAGE', `the target is the registry in use (${source.location})`)
    const probe = await probeBackend(target, this.config.cacheDir)
    if (probe.concurrency === 'none') {
      throw new MorpheusError('REGISTRY', `the target ${target.location} cannot keep concurrent writes safe: ${probe.notes.join('; ')}`, {hint: 'Choose another target; nothing was copied.'})
    }
    const existing = await readRegistry(target)
    const held = Object.keys(existing.doc.forests).length + Object.values(existing.doc.nodes).flat().length
    if (held > 0 && !flags.force) {
      throw new MorpheusError('REGISTRY', `the target ${target.location} already holds ${plural(Object.keys(existing.doc.forests).length, 'forest')} and ${plural(Object.values(existing.doc.nodes).flat().length, 'node')}; refusing to overwrite it`, {
        hint: 'Pass --force to replace it (its current content stays in its history, if the backend keeps one), or choose an empty target.',
      })
    }
    // The forests' secrets (route credentials) go along: without them no node could be added to a
    // forest planted with them. A target that keeps no secrets is refused before anything is copied.
    const secrets: Array<{forest: string; name: string; value: string}> = []
    for (const forest of Object.keys(doc.forests)) {
      for (const name of FOREST_SECRET_NAMES) {
        const value = await source.secrets?.get(forest, name)
        if (value !== undefined) secrets.push({forest, name, value})
      }
    }
    if (secrets.length > 0 && !target.secrets) {
      throw new MorpheusError('REGISTRY', `the target backend ${name} keeps no secrets, and ${plural(new Set(secrets.map((x) => x.forest)).size, 'forest')} ${new Set(secrets.map((x) => x.forest)).size === 1 ? 'has' : 'have'} route credentials that would be lost`, {
        hint: 'Choose a backend that keeps secrets (none, storagebox, s3 do); nothing was copied.',
      })
    }
    const body = serializeDocument({...doc, updated_at: new Date().toISOString()})
    await target.write(body, existing.revision === null ? {ifAbsent: true} : {ifRevision: existing.revision})
    // Read the copy back: the config is switched only to a document proven equal to the source.
    const copy = await target.read()
    const copied = copy ? parseDocument(copy.body, target.location) : undefined
    if (!copied || JSON.stringify({f: copied.forests, n: copied.nodes}) !== JSON.stringify({f: doc.forests, n: doc.nodes})) {
      throw new MorpheusError('REGISTRY', `the copy at ${target.location} does not match the source after writing`, {hint: `The config still points at ${source.location}; run the command again.`})
    }
    for (const x of secrets) {
      try {
        await target.secrets!.set(x.forest, x.name, x.value)
        if ((await target.secrets!.get(x.forest, x.name)) !== x.value) throw new Error('read back different')
      } catch (error) {
        throw new MorpheusError('REGISTRY', `could not copy the secrets of forest ${x.forest} to ${target.location}: ${pluginMessage(error)}`, {
          cause: error,
          hint: `The config still points at ${source.location}; run the command again (with --force: the target now holds the copied document).`,
        })
      }
    }
    if (flags.switch) {
      const {raw} = readRawConfig(path)
      raw.registry = section
      writeConfig(path, raw)
    }
    const result: MigrateResult = {
      backend: name,
      forest_count: Object.keys(doc.forests).length,
      from: source.location,
      node_count: Object.values(doc.nodes).flat().length,
      overwrote: held > 0,
      probe,
      secret_count: secrets.length,
      switched: flags.switch,
      to: target.location,
    }
    if (!this.jsonEnabled()) {
      this.log(`Copied ${plural(result.forest_count, 'forest')}, ${plural(result.node_count, 'node')} and ${plural(result.secret_count, 'secret')} from ${result.from} to ${result.to} (writes: ${probe.concurrency}).`)
      this.log(flags.switch ? `The config now points at ${result.to}; the old document is left as it was.` : `The config still points at ${result.from} (--no-switch).`)
    }
    return result
  }
}
