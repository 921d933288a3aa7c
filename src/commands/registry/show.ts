import {MorpheusCommand} from '../../ui/base-command.js'
import {readRegistry} from '../../registry/update.js'
import {serializeDocument} from '../../registry/document.js'
import type {RegistryDocument} from '../../plugin-api/index.js'

const SECRET_KEY = /(password|passwd|secret|token|access_key|private_key|credential)/i

/** The document with any value under a secret-looking key masked (none belongs there; if one slipped in, it is not shown). */
export function redact<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => redact(v)) as T
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        SECRET_KEY.test(k) && (typeof v === 'string' || typeof v === 'number') ? '********' : redact(v),
      ]),
    ) as T
  }
  return value
}

export default class RegistryShow extends MorpheusCommand {
  static summary = 'Print the registry document (validated; anything secret-looking masked).'
  static examples = ['<%= config.bin %> registry show', '<%= config.bin %> registry show --json']

  /** --json: `document` is the document (printed as it is without --json), `location` where it lives. */
  async run(): Promise<{location: string; document: RegistryDocument}> {
    await this.parse(RegistryShow)
    const {backend} = await this.runtime.registry()
    const {doc} = await readRegistry(backend)
    const shown = redact(doc)
    if (!this.jsonEnabled()) process.stdout.write(serializeDocument(shown))
    return {location: backend.location, document: shown}
  }
}
