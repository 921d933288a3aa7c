import {MorpheusCommand} from '../../ui/base-command.js'
import {fromPluginError} from '../../errors.js'
import {emptyDocument, serializeDocument} from '../../registry/document.js'
import {readRegistry} from '../../registry/update.js'
import type {RegistryProbe} from '../../plugin-api/index.js'

export default class RegistryInit extends MorpheusCommand {
  static summary = 'Create an empty registry document where registry.type points, if none exists yet'
  static description = `Idempotent: an existing document is validated and left as it is. Reports how the backend keeps concurrent writes safe. (plant creates the document too, when it is missing.)`
  static examples = ['<%= config.bin %> registry init', '<%= config.bin %> registry init --json']

  async run(): Promise<{location: string; created: boolean; probe: RegistryProbe}> {
    await this.parse(RegistryInit)
    const {backend} = await this.runtime.registry()
    let probe: RegistryProbe
    try {
      probe = await backend.probe()
    } catch (error) {
      throw fromPluginError(error, `registry ${backend.location}`, 'REGISTRY')
    }
    const {revision} = await readRegistry(backend)
    let created = false
    if (revision === null) {
      try {
        await backend.write(serializeDocument(emptyDocument()), {ifAbsent: true})
        created = true
      } catch (error) {
        // Someone else created it in the meantime: then it exists, which is what was asked.
        if ((error as {code?: string}).code !== 'CONFLICT') throw fromPluginError(error, `registry ${backend.location}`, 'REGISTRY')
        await readRegistry(backend)
      }
    }
    if (!this.jsonEnabled()) {
      this.log(`${created ? 'Created' : 'Found'} the registry at ${backend.location} (writes: ${probe.concurrency})`)
    }
    return {created, location: backend.location, probe}
  }
}
