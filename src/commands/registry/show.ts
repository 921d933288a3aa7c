import {MorpheusCommand} from '../../ui/base-command.js'
import {readRegistry} from '../../registry/update.js'
import {serializeDocument} from '../../registry/document.js'
import type {RegistryDocument} from '../../plugin-api/index.js'

export default class RegistryShow extends MorpheusCommand {
  static summary = 'Print the registry document (validated)'
  static examples = ['<%= config.bin %> registry show', '<%= config.bin %> registry show --json']

  async run(): Promise<RegistryDocument> {
    await this.parse(RegistryShow)
    const {backend} = await this.runtime.registry()
    const {doc} = await readRegistry(backend)
    if (!this.jsonEnabled()) process.stdout.write(serializeDocument(doc))
    return doc
  }
}
