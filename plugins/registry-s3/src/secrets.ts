import type {PluginContext, SecretStore} from 'morpheus/plugin-api'

import type {S3Ops} from './s3-ops.js'

const FOREST_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

interface SecretObject {
  version: 1
  secrets: Record<string, string>
}

/**
 * Per-forest secrets (route credentials), never in the registry document: one small JSON object
 * per forest beside it, `<key>.secrets/<forest>.json`, written with the same conditional PUTs as
 * the document. delete() removes every version of the object on a versioned bucket, so a torn
 * down forest's credentials do not linger in old versions.
 */
export class S3SecretStore implements SecretStore {
  constructor(
    private readonly ops: S3Ops,
    private readonly documentKey: string,
    private readonly context: Pick<PluginContext, 'error' | 'helpers' | 'log' | 'signal'>,
  ) {}

  private keyOf(forestId: string): string {
    if (!FOREST_ID.test(forestId)) throw this.context.error('FAILED', `"${forestId}" is not a forest id that can name a secrets object`)
    return `${this.documentKey}.secrets/${forestId}.json`
  }

  private async load(key: string): Promise<{secrets: Record<string, string>; etag: string | null}> {
    const object = await this.ops.get(key)
    if (!object) return {etag: null, secrets: {}}
    let parsed: SecretObject
    try {
      parsed = JSON.parse(object.body) as SecretObject
    } catch {
      // Never quote the body: it holds secrets.
      throw this.context.error(
        'FAILED',
        `the secrets object s3://${this.ops.settings.bucket}/${key} is not valid JSON`,
        "Delete it (its forest's route credentials are lost; tear the forest down and plant it again).",
      )
    }
    const secrets = parsed && typeof parsed.secrets === 'object' && parsed.secrets !== null ? parsed.secrets : {}
    return {etag: object.etag, secrets}
  }

  async get(forestId: string, name: string): Promise<string | undefined> {
    const {secrets} = await this.load(this.keyOf(forestId))
    const value = secrets[name]
    return typeof value === 'string' ? value : undefined
  }

  async set(forestId: string, name: string, value: string): Promise<void> {
    const key = this.keyOf(forestId)
    await this.context.helpers.retry(
      async () => {
        const {etag, secrets} = await this.load(key)
        const body: SecretObject = {secrets: {...secrets, [name]: value}, version: 1}
        await this.ops.put(key, JSON.stringify(body), etag === null ? {ifAbsent: true} : {ifEtag: etag})
      },
      {baseMs: 50, maxMs: 1000, retryable: (error) => (error as {code?: string}).code === 'CONFLICT', tries: 8},
    )
  }

  async delete(forestId: string): Promise<void> {
    const key = this.keyOf(forestId)
    if (await this.ops.versioning()) {
      const versions = await this.ops.versions(key, 1000)
      try {
        for (const v of versions) await this.ops.delete(key, {versionId: v.versionId})
      } catch (error) {
        if ((error as {code?: string}).code !== 'AUTH') throw error
        this.context.log.warn(
          `not allowed to delete old versions of s3://${this.ops.settings.bucket}/${key}: they keep the forest's former route credentials until the bucket's lifecycle rules expire them`,
        )
        await this.ops.delete(key)
      }
      if (versions.length > 0) return
    }
    await this.ops.delete(key)
  }
}
