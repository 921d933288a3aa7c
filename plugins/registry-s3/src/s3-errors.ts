import type {PluginContext, PluginErrorShape} from 'morpheus/plugin-api'

/** What an AWS SDK error (or a socket error under it) says, in plain fields. */
export interface S3Failure {
  /** HTTP status, when the server answered. */
  status?: number
  /** S3 error code (`PreconditionFailed`, `NoSuchKey`, ...) or the error's name. */
  name: string
  /** Socket-level code (`ECONNRESET`, ...), when there was no answer. */
  errno?: string
  message: string
}

export function failure(error: unknown): S3Failure {
  const e = error as {
    name?: string
    Code?: string
    code?: string
    message?: string
    $metadata?: {httpStatusCode?: number}
    $response?: {statusCode?: number}
    cause?: unknown
  }
  const status = e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode
  let name = String(e?.Code ?? e?.name ?? 'Error')
  let message = String(e?.message ?? error)
  // A socket error from another realm (e.g. under a test runner's VM context) fails the SDK's
  // instanceof checks and reaches us flattened into a message: recover its name and code from it.
  const wrapped = /^AWS SDK error wrapper for (\w+): (.*)$/s.exec(message)
  if (wrapped) [, name, message] = wrapped
  const errno =
    (typeof e?.code === 'string' && /^E[A-Z_]+$/.test(e.code) ? e.code : undefined) ??
    (e?.cause as {code?: string} | undefined)?.code ??
    (status === undefined
      ? (/\b(E[A-Z]{4,}|ERR_[A-Z_]+)\b/.exec(message)?.[1] ?? (/socket hang up/i.test(message) ? 'ECONNRESET' : undefined))
      : undefined)
  return {errno, message, name, status}
}

export function isAbort(error: unknown): boolean {
  return (error as {name?: string})?.name === 'AbortError'
}

/** A conditional write lost: 412 PreconditionFailed, or 409 ConditionalRequestConflict (a concurrent conditional write to the same key). */
export function isConflict(f: S3Failure): boolean {
  return f.status === 412 || f.name === 'PreconditionFailed' || f.name === 'ConditionalRequestConflict'
}

export function isMissingKey(f: S3Failure): boolean {
  return f.name === 'NoSuchKey' || f.name === 'NotFound' || (f.status === 404 && f.name !== 'NoSuchBucket')
}

const AUTH_NAMES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
])
const TRANSIENT_NAMES = new Set([
  'InternalError',
  'ServiceUnavailable',
  'SlowDown',
  'RequestTimeout',
  'TimeoutError',
  'OperationAborted',
  'ThrottlingException',
  'RequestLimitExceeded',
])
/** No answer, but the next try may well get one. */
const TRANSIENT_ERRNO = new Set([
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ESOCKETTIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
])
/** No answer, and none is coming soon: the address is wrong or the server is down. */
const UNREACHABLE_ERRNO = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EADDRNOTAVAIL', 'ERR_INVALID_URL'])

/** Replace every secret value in a text with ***. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***')
  return out
}

export interface ErrorScope {
  context: Pick<PluginContext, 'error'>
  /** e.g. `s3://bucket/key` */
  location: string
  /** Values never to let into a message (the configured keys). */
  secrets: readonly string[]
}

/**
 * The plugin error for a failed S3 call. `action` says what was being done ("reading", "writing").
 * An AbortError is returned as it is (the core reports the interrupt).
 */
export function s3Error(scope: ErrorScope, action: string, error: unknown): Error | PluginErrorShape {
  if (isAbort(error)) return error as Error
  const f = failure(error)
  const {context, location} = scope
  const said = scrub(
    `${f.status ? `${f.status} ` : ''}${f.name}${f.message && f.message !== f.name ? `: ${f.message}` : ''}`,
    scope.secrets,
  )
  const what = `${action} ${location}`
  const options = {cause: error}
  if (isConflict(f)) return context.error('CONFLICT', `${what}: the object changed since it was read (${said})`, undefined, options)
  if (f.name === 'CredentialsProviderError' || /Could not load credentials/i.test(f.message)) {
    return context.error(
      'AUTH',
      `${what}: no credentials: set registry.access_key_id and registry.secret_access_key, or configure the AWS credential chain`,
      "e.g. morpheus config set registry.access_key_id '${S3_ACCESS_KEY_ID}' (and secret_access_key), or export AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE",
      options,
    )
  }
  if (/Region is missing/i.test(f.message)) {
    return context.error(
      'PREREQUISITE',
      `${what}: no region`,
      'morpheus config set registry.region <region> (R2: auto; MinIO: us-east-1)',
      options,
    )
  }
  if (f.status === 401 || f.status === 403 || AUTH_NAMES.has(f.name)) {
    return context.error(
      'AUTH',
      `${what}: the server refused the credentials (${said})`,
      'Check registry.access_key_id / registry.secret_access_key (or the AWS credential chain) and that they may read and write this bucket.',
      options,
    )
  }
  if (f.name === 'NoSuchBucket') {
    return context.error(
      'PREREQUISITE',
      `${what}: the bucket does not exist`,
      'Create the bucket first (Morpheus does not create buckets), or fix registry.bucket / registry.endpoint.',
      options,
    )
  }
  if (
    f.status === 301 ||
    f.name === 'PermanentRedirect' ||
    f.name === 'AuthorizationHeaderMalformed' ||
    f.name === 'IllegalLocationConstraintException'
  ) {
    return context.error(
      'PREREQUISITE',
      `${what}: wrong region or endpoint for this bucket (${said})`,
      "Set registry.region to the bucket's region (or registry.endpoint; registry.force_path_style for self-hosted servers).",
      options,
    )
  }
  if (f.status === 501 || f.name === 'NotImplemented') {
    return context.error('UNSUPPORTED', `${what}: the server does not implement this (${said})`, undefined, options)
  }
  if (f.status === undefined && ((f.errno && TRANSIENT_ERRNO.has(f.errno)) || f.name === 'TimeoutError')) {
    return context.error(
      'UNREACHABLE',
      `${what}: no answer (${f.errno ?? f.name}: ${scrub(f.message, scope.secrets)})`,
      'The connection broke or timed out; try again.',
      {...options, transient: true},
    )
  }
  if ((f.status !== undefined && (f.status >= 500 || f.status === 429)) || TRANSIENT_NAMES.has(f.name)) {
    return context.error('FAILED', `${what}: ${said}`, 'The server had a passing problem; try again.', {...options, transient: true})
  }
  if (f.errno && UNREACHABLE_ERRNO.has(f.errno)) {
    return context.error(
      'UNREACHABLE',
      `${what}: cannot reach the endpoint (${f.errno})`,
      'Check registry.endpoint and that the server is running.',
      options,
    )
  }
  return context.error('FAILED', `${what}: ${said}`, undefined, options)
}
