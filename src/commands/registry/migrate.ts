import * as Flags from '@oclif/core/flags'

import {configPath, expandEnv, parseCliValue} from '../../config/config.js'
import {MorpheusError} from '../../errors.js'
import {FOREST_SECRET_NAMES} from '../../forest/plant.js'
import {resolve} from '../../plugins/discovery.js'
import {migrateRegistry, type MigrateResult} from '../../registry/migrate.js'
import {MorpheusCommand} from '../../ui/base-command.js'
import {plural} from '../../words.js'

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
      if (!/^[A-Za-z0-9_]+$/.test(key) || key === 'type')
        throw new MorpheusError('USAGE', `--set ${key}: not a key of a registry section`, {hint: 'The target backend is given by --to.'})
      section[key] = parseCliValue(pair.slice(eq + 1))
    }
    const {backend: source} = await this.runtime.registry()
    const path = configPath()
    const result = await migrateRegistry({
      cacheDir: this.config.cacheDir,
      configPath: path,
      force: flags.force,
      openTarget: async () => {
        const expanded = expandEnv(section, path, process.env, 'registry') as Record<string, unknown>
        // --to is an argument: a backend no plugin offers is a usage error (exit 2), with the command that installs it.
        resolve(await this.runtime.registries(), String(expanded.type))
        const {backend, entry} = await this.runtime.withRegistry(expanded).registry()
        return {backend, name: entry.descriptor.name}
      },
      secretNames: FOREST_SECRET_NAMES,
      section,
      source,
      switch: flags.switch,
    })
    if (!this.jsonEnabled()) {
      this.log(
        `Copied ${plural(result.forest_count, 'forest')}, ${plural(result.node_count, 'node')} and ${plural(result.secret_count, 'secret')} from ${result.from} to ${result.to} (writes: ${result.probe.concurrency}).`,
      )
      this.log(
        flags.switch
          ? `The config now points at ${result.to}; the old document is left as it was.`
          : `The config still points at ${result.from} (--no-switch).`,
      )
    }
    return result
  }
}
