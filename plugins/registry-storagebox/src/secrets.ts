import type {PluginContext, SecretStore} from 'morpheus/plugin-api'

import {Dav} from './dav.js'
import {ifToken, releaseLock, type HeldLock} from './lock.js'

interface SecretsFile {
  version: 1
  forests: Record<string, Record<string, string>>
}

/**
 * Per-forest secrets (route credentials) in their own file beside the registry document, never
 * in it. Changes are made under an exclusive WebDAV lock on that file, like the document's.
 */
export class DavSecretStore implements SecretStore {
  constructor(
    private readonly dav: Dav,
    private readonly context: PluginContext,
    private readonly path: string,
    private readonly lock: (path: string, signal?: AbortSignal) => Promise<HeldLock>,
  ) {}

  private async load(): Promise<SecretsFile> {
    const r = await this.dav.request('GET', this.path, {expect: [404]})
    if (r.status === 404) return {forests: {}, version: 1}
    try {
      const parsed = JSON.parse(r.body) as SecretsFile
      if (parsed && typeof parsed === 'object' && parsed.forests && typeof parsed.forests === 'object') return parsed
    } catch {
      // fall through
    }
    throw this.context.error('FAILED', `the secrets file ${this.dav.href(this.path)} is corrupt (not the expected JSON)`, 'Morpheus will not overwrite it. Fix or remove it by hand (forests planted with it will need new route credentials).')
  }

  async get(forestId: string, name: string): Promise<string | undefined> {
    return (await this.load()).forests[forestId]?.[name]
  }

  async set(forestId: string, name: string, value: string): Promise<void> {
    await this.change((file) => {
      file.forests[forestId] = {...file.forests[forestId], [name]: value}
    })
  }

  async delete(forestId: string): Promise<void> {
    await this.change((file) => {
      if (!(forestId in file.forests)) return false
      delete file.forests[forestId]
    })
  }

  private async change(mutate: (file: SecretsFile) => void | false): Promise<void> {
    const lock = await this.lock(this.path)
    try {
      const file = await this.load()
      if (mutate(file) === false) return
      const r = await this.dav.request('PUT', this.path, {body: JSON.stringify(file, null, 2) + '\n', expect: [412, 423], headers: {'content-type': 'application/json', ...ifToken(lock)}})
      if (r.status === 412 || r.status === 423) throw this.context.error('LOCKED', `${this.dav.href(this.path)}: the lock expired before the write; nothing was written`, 'Run the command again.', {transient: true})
    } finally {
      await releaseLock(this.dav, this.context, lock)
    }
  }
}
