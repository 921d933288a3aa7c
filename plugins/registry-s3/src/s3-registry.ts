import type {
  IoOptions,
  PluginContext,
  RegistryBackend,
  RegistryProbe,
  RevisionInfo,
  StoredDocument,
  WriteCondition,
} from 'morpheus/plugin-api'

import {probeEndpoint} from './probe.js'
import {formatRevision, parseRevision} from './revision.js'
import {createClient, S3Ops} from './s3-ops.js'
import {S3SecretStore} from './secrets.js'
import {readSettings} from './settings.js'

/**
 * The registry document as one S3 object. The revision is its ETag (plus its version id on a
 * versioned bucket); a write is a PUT with `If-None-Match: *` (first write) or `If-Match: <ETag>`,
 * and a refused condition is a CONFLICT the core retries. Whether the endpoint really enforces
 * those headers is what probe() finds out: s3rver and Garage ignore them.
 */
export class S3Registry implements RegistryBackend {
  readonly location: string
  readonly secrets: S3SecretStore

  constructor(
    private readonly ops: S3Ops,
    context: Pick<PluginContext, 'error' | 'helpers' | 'log' | 'signal'>,
  ) {
    this.location = ops.settings.location
    this.secrets = new S3SecretStore(ops, ops.settings.key, context)
  }

  private get key(): string {
    return this.ops.settings.key
  }

  probe(options?: IoOptions): Promise<RegistryProbe> {
    return probeEndpoint(this.ops, this.key, options)
  }

  async read(options?: IoOptions): Promise<StoredDocument | null> {
    const object = await this.ops.get(this.key, options)
    return object && {body: object.body, revision: formatRevision(object.etag, object.versionId)}
  }

  async write(body: string, condition: WriteCondition, options?: IoOptions): Promise<{revision: string}> {
    const put = 'ifAbsent' in condition ? {ifAbsent: true as const} : {ifEtag: parseRevision(condition.ifRevision).etag}
    const {etag, versionId} = await this.ops.put(this.key, body, put, options)
    return {revision: formatRevision(etag, versionId)}
  }

  /**
   * Earlier revisions (not the current one), newest first. On a versioned bucket: the document's
   * object versions below the current one (delete markers left out). Without versioning S3 keeps
   * nothing older, so the list is empty.
   */
  async history(limit: number, options?: IoOptions): Promise<RevisionInfo[]> {
    if (limit <= 0 || !(await this.ops.versioning(options))) return []
    const versions = await this.ops.versions(this.key, limit + 1, options)
    // The newest entry is the current document, unless the document was deleted (a delete marker on top).
    const earlier = versions.length > 0 && !versions[0].deleted ? versions.slice(1) : versions
    return earlier
      .filter((v) => !v.deleted)
      .slice(0, limit)
      .map((v) => ({
        modified: v.modified.toISOString(),
        revision: formatRevision(v.etag, v.versionId),
        ...(v.size === undefined ? {} : {size: v.size}),
      }))
  }

  /**
   * One revision's body: by version id when the revision carries one; else the current
   * document if its ETag matches, else (versioned bucket) the version with that ETag or id.
   */
  async readRevision(revision: string, options?: IoOptions): Promise<StoredDocument | null> {
    const {etag, versionId} = parseRevision(revision)
    if (versionId) {
      const object = await this.ops.get(this.key, {...options, versionId})
      if (!object || object.etag !== etag) return null
      return {body: object.body, revision: formatRevision(object.etag, object.versionId ?? versionId)}
    }
    const current = await this.ops.get(this.key, options)
    if (current && current.etag === etag) return {body: current.body, revision: formatRevision(current.etag, current.versionId)}
    if (!(await this.ops.versioning(options))) return null
    const match = (await this.ops.versions(this.key, 1000, options)).find(
      (v) => !v.deleted && (v.etag === etag || v.versionId === revision),
    )
    if (!match) return null
    const object = await this.ops.get(this.key, {...options, versionId: match.versionId})
    return object && {body: object.body, revision: formatRevision(object.etag, object.versionId ?? match.versionId)}
  }
}

export function createS3Registry(context: PluginContext): RegistryBackend {
  const settings = readSettings(context)
  return new S3Registry(new S3Ops(createClient(settings), settings, context), context)
}
