import * as Flags from '@oclif/core/flags'

import {MorpheusError} from '../../errors.js'
import type {RevisionInfo} from '../../plugin-api/index.js'
import {MorpheusCommand} from '../../ui/base-command.js'
import {table} from '../../ui/table.js'

export default class RegistryHistory extends MorpheusCommand {
  static summary = 'List the earlier revisions of the registry document the backend keeps (newest first).'
  static examples = ['<%= config.bin %> registry history', '<%= config.bin %> registry history --limit 5 --json']
  static flags = {
    limit: Flags.integer({char: 'n', default: 20, description: 'Show at most this many.', min: 1}),
  }

  async run(): Promise<{location: string; revisions: RevisionInfo[]}> {
    const {flags} = await this.parse(RegistryHistory)
    const {backend, entry} = await this.runtime.registry()
    if (!backend.history) {
      throw new MorpheusError('REGISTRY', `the registry backend "${entry.descriptor.name}" keeps no history`, {
        hint: 'Backends that keep revisions: storagebox (see registry.history_revisions).',
      })
    }
    const revisions = await backend.history(flags.limit, {signal: this.runtime.signal})
    if (!this.jsonEnabled()) {
      if (revisions.length === 0) this.log(`No earlier revisions at ${backend.location} yet.`)
      else
        this.log(
          table(
            ['REVISION', 'MADE', 'SIZE'],
            revisions.map((r) => [r.revision, r.modified, r.size === undefined ? '-' : String(r.size)]),
          ),
        )
      if (revisions.length > 0) this.log(`\nRestore one with: morpheus registry restore <REVISION>`)
    }
    return {location: backend.location, revisions}
  }
}
