import type {PluginContext, SecretStore} from 'morpheus/plugin-api'

import {Dav} from './dav.js'
import {ifToken, releaseLock, type HeldLock} from './lock.js'

interface SecretsFile {
  version: 1
  forests: Record<string, Record<string, string>>
}

export interface SecretFileAccess {
  /** Create the file with this content unless it exists (false if it did); never by a LOCK on the missing name. */
  create(path: string, body: string, signal?: AbortSignal): Promise<boolean>
  /** An exclusive lock on an existing file. */
  lock(path: string, signal?: AbortSignal): Promise<HeldLock>
}

const serialize = (file: SecretsFile) => JSON.stringify(file, null, 2) + '\n'

/**
 * Per-forest secrets (route credentials, and under REGISTRY_SECRETS the nodes' read-only mount
 * credentials) in their own file beside the registry document, never in it. Changes are made
 * under an exclusive WebDAV lock on that file, like the document's; the file is created first
 * (under the folder's lock), so a LOCK never meets a missing name, which on nginx would create an
 * empty file that nothing could read.
 */
export class DavSecretStore implements SecretStore {
  constructor(
    private readonly dav: Dav,
    private readonly context: PluginContext,
    private readonly path: string,
    private readonly files: SecretFileAccess,
  ) {}

  /** The file, or null when there is none. */
  private async load(): Promise<SecretsFile | null> {
    const r = await this.dav.request('GET', this.path, {expect: [404]})
    if (r.status === 404) return null
    // An empty file is what a LOCK on the missing name left on nginx (an earlier Morpheus did
    // that): it holds nothing, and is overwritten by the next change.
    if (r.body === '') return {forests: {}, version: 1}
    try {
      const parsed = JSON.parse(r.body) as SecretsFile
      if (parsed && typeof parsed === 'object' && parsed.forests && typeof parsed.forests === 'object' && !Array.isArray(parsed.forests))
        return parsed
    } catch {
      // fall through
    }
    // Never quote the body: it holds secrets.
    throw this.context.error(
      'FAILED',
      `the secrets file ${this.dav.href(this.path)} is corrupt (not the expected JSON)`,
      'Morpheus will not overwrite it. Fix or remove it by hand (forests planted with it will need new route credentials; nodes need their mount credentials set again with `morpheus registry init`).',
    )
  }

  async get(forestId: string, name: string): Promise<string | undefined> {
    return (await this.load())?.forests[forestId]?.[name]
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
    const seen = await this.load()
    if (seen === null) {
      // No file yet: create it with the change made (nothing to change: nothing to create).
      const fresh: SecretsFile = {forests: {}, version: 1}
      if (mutate(fresh) === false) return
      if (await this.files.create(this.path, serialize(fresh))) return
      // Someone else created it meanwhile: change theirs, under the lock.
    }
    const lock = await this.files.lock(this.path)
    try {
      const file = (await this.load()) ?? {forests: {}, version: 1}
      if (mutate(file) === false) return
      const r = await this.dav.request('PUT', this.path, {
        body: serialize(file),
        expect: [207, 412, 423],
        headers: {'content-type': 'application/json', ...ifToken(lock)},
      })
      if (r.status === 207 || r.status === 412 || r.status === 423)
        throw this.context.error(
          'LOCKED',
          `${this.dav.href(this.path)}: the lock expired before the write; nothing was written`,
          'Run the command again.',
          {transient: true},
        )
    } finally {
      await releaseLock(this.dav, this.context, lock)
    }
  }
}
