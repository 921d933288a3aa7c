import type {PluginContext} from 'morpheus/plugin-api'

/** The registry section, checked. Pure (no SDK), so the hook's schema and this stay testable alone. */
export interface S3Settings {
  endpoint?: string
  region?: string
  bucket: string
  key: string
  forcePathStyle: boolean
  credentials?: {accessKeyId: string; secretAccessKey: string; sessionToken?: string}
  timeoutMs: number
  /** Where the document lives, for messages: never a credential. */
  location: string
}

const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/

function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined
  const s = String(value).trim()
  return s === '' ? undefined : s
}

export function readSettings(context: Pick<PluginContext, 'config' | 'error'>): S3Settings {
  const c = context.config
  const bucket = text(c.bucket)
  if (!bucket)
    throw context.error(
      'PREREQUISITE',
      'registry.bucket is not set',
      'morpheus config set registry.bucket <bucket> (the bucket must exist)',
    )
  if (!BUCKET.test(bucket))
    throw context.error(
      'PREREQUISITE',
      `registry.bucket "${bucket}" is not a bucket name`,
      "A bucket name has letters, digits, dots and dashes only (no slash: the object's path goes in registry.key).",
    )
  const key = text(c.key) ?? 'morpheus/registry.json'
  if (key.startsWith('/') || key.endsWith('/'))
    throw context.error(
      'PREREQUISITE',
      `registry.key "${key}" must not start or end with "/"`,
      'e.g. morpheus config set registry.key morpheus/registry.json',
    )

  let endpoint = text(c.endpoint)
  let host: string | undefined
  if (endpoint) {
    let url: URL
    try {
      url = new URL(endpoint)
    } catch {
      throw context.error(
        'PREREQUISITE',
        'registry.endpoint is not a URL',
        'e.g. https://<account>.r2.cloudflarestorage.com or http://127.0.0.1:9000',
      )
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw context.error('PREREQUISITE', `registry.endpoint must be an http:// or https:// URL, not ${url.protocol}`)
    if (url.username || url.password) {
      // The message does not repeat the URL: it holds a credential.
      throw context.error(
        'PREREQUISITE',
        'registry.endpoint must not hold credentials',
        'Put them in registry.access_key_id and registry.secret_access_key (best as ${ENV} references).',
      )
    }
    endpoint = url.href.replace(/\/$/, '')
    host = url.host
  }

  const accessKeyId = text(c.access_key_id)
  const secretAccessKey = text(c.secret_access_key)
  const sessionToken = text(c.session_token)
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
    const missing = accessKeyId ? 'secret_access_key' : 'access_key_id'
    throw context.error(
      'PREREQUISITE',
      `registry.${missing} is not set (registry.access_key_id and registry.secret_access_key go together)`,
      `morpheus config set registry.${missing} '\${ENV_NAME}', or remove both to use the AWS credential chain`,
    )
  }

  const region =
    text(c.region) ?? text(process.env.AWS_REGION) ?? text(process.env.AWS_DEFAULT_REGION) ?? (endpoint ? 'us-east-1' : undefined)
  const timeout = Number(c.timeout_seconds ?? 30)
  return {
    bucket,
    credentials: accessKeyId && secretAccessKey ? {accessKeyId, secretAccessKey, ...(sessionToken ? {sessionToken} : {})} : undefined,
    endpoint,
    forcePathStyle: c.force_path_style === true || c.force_path_style === 'true',
    key,
    location: `s3://${bucket}/${key}${host ? ` on ${host}` : ''}`,
    region,
    timeoutMs: (Number.isFinite(timeout) && timeout > 0 ? timeout : 30) * 1000,
  }
}

/** Values that must never appear in a message. */
export function secretValues(settings: S3Settings): string[] {
  const c = settings.credentials
  return c ? [c.accessKeyId, c.secretAccessKey, ...(c.sessionToken ? [c.sessionToken] : [])] : []
}
