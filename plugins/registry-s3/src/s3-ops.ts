import {
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3'
import type {IoOptions, PluginContext} from 'morpheus/plugin-api'

import {failure, isMissingKey, s3Error, type ErrorScope} from './s3-errors.js'
import {bareEtag, quotedEtag} from './revision.js'
import {secretValues, type S3Settings} from './settings.js'

export type PutCondition = {ifAbsent: true} | {ifEtag: string} | null

export interface ObjectBody {
  body: string
  etag: string
  versionId?: string
  modified?: Date
}

export interface ObjectVersion {
  key: string
  etag: string
  versionId: string
  modified: Date
  size?: number
  /** A delete marker (the key was deleted at that point). */
  deleted: boolean
}

/**
 * The few S3 calls the backend makes, each with the caller's abort signal (if any) and with errors
 * turned into plugin errors. This module is the only one that imports the AWS SDK; load() in
 * the hook is what imports it.
 */
export class S3Ops {
  readonly scope: ErrorScope

  constructor(
    private readonly client: S3Client,
    readonly settings: S3Settings,
    private readonly context: Pick<PluginContext, 'error' | 'signal'>,
  ) {
    this.scope = {context, location: settings.location, secrets: secretValues(settings)}
  }

  /**
   * The caller's signal only, never the command's interrupt (context.signal): the core records how
   * an interrupted operation ended through this same backend, so a Ctrl-C must not abort that
   * write. Each call is bounded by the client's own timeouts (registry.timeout_seconds).
   */
  private signal(options?: IoOptions): AbortSignal | undefined {
    return options?.signal
  }

  // The SDK's own AbortSignal type is a structural subset of the DOM one.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private send<T>(command: any, options?: IoOptions): Promise<T> {
    return this.client.send(command, {abortSignal: this.signal(options) as never}) as Promise<T>
  }

  /** The object, or null when it does not exist. */
  async get(key: string, options?: IoOptions & {versionId?: string}): Promise<ObjectBody | null> {
    try {
      const out = await this.send<{
        Body?: {transformToString(encoding?: string): Promise<string>}
        ETag?: string
        VersionId?: string
        LastModified?: Date
      }>(
        new GetObjectCommand({Bucket: this.settings.bucket, Key: key, ...(options?.versionId ? {VersionId: options.versionId} : {})}),
        options,
      )
      const body = out.Body ? await out.Body.transformToString('utf8') : ''
      return {body, etag: this.etagOf(out.ETag, 'GET'), modified: out.LastModified, versionId: out.VersionId}
    } catch (error) {
      const f = failure(error)
      if (isMissingKey(f) || f.name === 'NoSuchVersion' || (options?.versionId && (f.name === 'InvalidArgument' || f.status === 400)))
        return null
      throw s3Error(this.scope, options?.versionId ? `reading version ${options.versionId} of` : 'reading', error)
    }
  }

  /**
   * PUT with `If-None-Match: *` (ifAbsent) or `If-Match: "<etag>"` (ifEtag). A refused condition
   * (412 PreconditionFailed, 409 ConditionalRequestConflict) throws CONFLICT.
   */
  async put(key: string, body: string, condition: PutCondition, options?: IoOptions): Promise<{etag: string; versionId?: string}> {
    const conditional = condition === null ? {} : 'ifAbsent' in condition ? {IfNoneMatch: '*'} : {IfMatch: quotedEtag(condition.ifEtag)}
    try {
      const out = await this.send<{ETag?: string; VersionId?: string}>(
        new PutObjectCommand({Body: body, Bucket: this.settings.bucket, ContentType: 'application/json', Key: key, ...conditional}),
        options,
      )
      return {etag: this.etagOf(out.ETag, 'PUT'), versionId: out.VersionId}
    } catch (error) {
      // If-Match on a key that is gone (404 NoSuchKey on AWS): the expected revision does not hold either.
      if (condition !== null && 'ifEtag' in condition && isMissingKey(failure(error))) {
        throw this.context.error('CONFLICT', `writing ${this.settings.location}: the object was deleted since it was read`, undefined, {
          cause: error,
        })
      }
      throw s3Error(this.scope, 'writing', error)
    }
  }

  async delete(key: string, options?: IoOptions & {versionId?: string}): Promise<void> {
    try {
      await this.send(
        new DeleteObjectCommand({Bucket: this.settings.bucket, Key: key, ...(options?.versionId ? {VersionId: options.versionId} : {})}),
        options,
      )
    } catch (error) {
      if (isMissingKey(failure(error))) return
      throw s3Error(this.scope, 'deleting', error)
    }
  }

  /** Enabled, Suspended, or undefined (never enabled, or the server has no versioning). */
  async versioning(options?: IoOptions): Promise<'Enabled' | 'Suspended' | undefined> {
    try {
      const out = await this.send<{Status?: string}>(new GetBucketVersioningCommand({Bucket: this.settings.bucket}), options)
      return out.Status === 'Enabled' || out.Status === 'Suspended' ? out.Status : undefined
    } catch (error) {
      const f = failure(error)
      // s3rver and some other servers do not implement versioning at all.
      if (f.status === 501 || f.name === 'NotImplemented' || f.name === 'MethodNotAllowed') return undefined
      throw s3Error(this.scope, 'asking for the versioning of', error)
    }
  }

  /**
   * Versions (and delete markers) of exactly `key`, newest first, at most `limit`. Keys that
   * merely start with `key` (its secrets and probe objects) are skipped; they sort after it.
   */
  async versions(key: string, limit: number, options?: IoOptions): Promise<ObjectVersion[]> {
    const out: ObjectVersion[] = []
    let keyMarker: string | undefined
    let versionIdMarker: string | undefined
    try {
      for (;;) {
        const page = await this.send<{
          Versions?: Array<{Key?: string; ETag?: string; VersionId?: string; LastModified?: Date; Size?: number}>
          DeleteMarkers?: Array<{Key?: string; VersionId?: string; LastModified?: Date}>
          IsTruncated?: boolean
          NextKeyMarker?: string
          NextVersionIdMarker?: string
        }>(
          new ListObjectVersionsCommand({
            Bucket: this.settings.bucket,
            KeyMarker: keyMarker,
            MaxKeys: Math.min(1000, Math.max(limit + 1, 10)),
            Prefix: key,
            VersionIdMarker: versionIdMarker,
          }),
          options,
        )
        const entries: ObjectVersion[] = [
          ...(page.Versions ?? []).map((v) => ({
            deleted: false,
            etag: bareEtag(v.ETag) ?? '',
            key: v.Key ?? '',
            modified: v.LastModified ?? new Date(0),
            size: v.Size,
            versionId: v.VersionId ?? 'null',
          })),
          ...(page.DeleteMarkers ?? []).map((d) => ({
            deleted: true,
            etag: '',
            key: d.Key ?? '',
            modified: d.LastModified ?? new Date(0),
            versionId: d.VersionId ?? 'null',
          })),
        ]
        let pastKey = false
        for (const e of entries) {
          if (e.key === key) out.push(e)
          else if (e.key > key) pastKey = true
        }
        if (!page.IsTruncated || pastKey || out.filter((e) => !e.deleted).length >= limit) break
        keyMarker = page.NextKeyMarker
        versionIdMarker = page.NextVersionIdMarker
      }
    } catch (error) {
      throw s3Error(this.scope, 'listing the versions of', error)
    }
    // Versions and delete markers come in two lists; merge them newest first.
    return out.sort((a, b) => b.modified.getTime() - a.modified.getTime())
  }

  private etagOf(raw: string | undefined, verb: string): string {
    const etag = bareEtag(raw)
    if (etag === undefined) {
      throw this.context.error(
        'UNSUPPORTED',
        `${this.settings.location}: the server answered ${verb} without an ETag, so conditional writes cannot work`,
        'Use an S3 server that returns ETags (AWS S3, Cloudflare R2, MinIO).',
      )
    }
    return etag
  }
}

/** The SDK client for these settings: one attempt per call (the core retries transient errors), its own time limits. */
export function createClient(settings: S3Settings): S3Client {
  // AWS SDK releases after January 2027 need Node 22; Morpheus runs on Node 20.19+ and the pinned SDK
  // works there, so its start-up notice is not repeated on every command. Set the variable to
  // "false" to see it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  return new S3Client({
    credentials: settings.credentials,
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle,
    maxAttempts: 1,
    region: settings.region,
    // Checksums only where the API requires them: several S3-compatible servers reject the newer default ones.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: Math.min(settings.timeoutMs, 10_000),
      requestTimeout: settings.timeoutMs,
      throwOnRequestTimeout: true,
    },
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
}
