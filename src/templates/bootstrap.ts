/**
 * What the cloud-init user data needs besides the node itself: where NimsForest and nats-server
 * come from, JetStream limits, route TLS, and (when the registry backend says how: its nodeAccess())
 * how a node mounts the registry's folder. Derived by one pure function, so the runtime passes it to
 * createRenderer and tests can build it from plain objects.
 */
import {isIP} from 'node:net'

import {MorpheusError} from '../errors.js'
import type {NodeAccess} from '../plugin-api/index.js'

/** What a node needs to reach the registry (the backend's NodeAccess), checked: rendered as it is. */
export interface RegistryMount {
  /** The systemd mount unit of the registry's folder at /mnt/forest. */
  mount: NodeAccess['mount']
  /** The registry document's file name in the mounted folder (NimsForest reads /mnt/forest/<file>). */
  file: string
  /** Files written before the mount (secret ones root-only). */
  files: Array<{path: string; content: string; secret: boolean}>
  packages: string[]
}

export interface RouteTls {
  /** PEM text of the CA every node's certificate is signed by. */
  ca: string
  /** PEM text of the certificate all nodes present (as server and as client). */
  cert: string
  /** PEM text of its private key (written 0600 on the node). */
  key: string
}

export interface BootstrapSettings {
  nimsforest: {
    /** Download URL; `{arch}` is replaced on the node by amd64 or arm64. */
    url: string
    /** Expected sha256 of the download (lower-case hex), or null for no check. */
    sha256: string | null
  }
  nats: {
    /** System mode: download nats-server `version` (true) or use the image's /usr/local/bin/nats-server (false). */
    install: boolean
    version: string
    /** Release archive URL; `{version}` and `{arch}` are filled in (on the node for {arch}). */
    url: string
    /** The same URL with `{version}` still in it (a node pinned to another version fills in its own). */
    urlTemplate: string
    /** Expected sha256 of the release archive, or null. */
    sha256: string | null
  }
  jetstream: {max_memory: string | null; max_file: string | null}
  /** Bind the client port to 127.0.0.1 (true, the default) or to every address (false; the host firewall admits forest nodes and operators). */
  clientLocalOnly: boolean
  routeTls: RouteTls | null
  /** The mount of the registry's folder when its backend gives one (nodeAccess); otherwise null (the user data writes the registry file). */
  registryMount: RegistryMount | null
}

export interface BootstrapSources {
  /** `integration` from the loaded config (values, `${ENV}` expanded). */
  integration?: Record<string, unknown>
  /**
   * What the registry backend says a node needs to reach it (RegistryBackend.nodeAccess, read by the
   * caller, which may do I/O); null or absent: nodes get the registry file. An Error is what asking
   * for it threw, raised only when a node's user data is rendered.
   */
  nodeAccess?: NodeAccess | Error | null
}

export interface BootstrapIo {
  /** Reads a file named in the config (route TLS files); given by the caller so the function stays pure. */
  readFile?: (path: string) => string
  /** Resolves a config path (context.resolvePath). */
  resolvePath?: (path: string) => string
}

export const DEFAULT_NIMSFOREST_URL = 'https://nimsforest.io/bin/nimsforest'
export const DEFAULT_NATS_VERSION = '2.10.24'
/** nats-server's GitHub release archive. GitHub has no IPv6: IPv6-only nodes need a mirror they can reach. */
export const DEFAULT_NATS_URL =
  'https://github.com/nats-io/nats-server/releases/download/v{version}/nats-server-v{version}-linux-{arch}.tar.gz'

const SIZE = /^\d+(\.\d+)?\s*[KMGT]?B?$/i
const SHA256 = /^[0-9a-f]{64}$/i
const SEGMENT = /^[A-Za-z0-9._-]+$/

function bad(key: string, message: string, hint: string): MorpheusError {
  return new MorpheusError('CONFIG', `${key} ${message}`, {hint})
}

function str(section: Record<string, unknown>, key: string, prefix: string, fallback = ''): string {
  const v = section[key]
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'string' && typeof v !== 'number')
    throw bad(`${prefix}.${key}`, 'must be a string', `Set it with: morpheus config set ${prefix}.${key} <value>`)
  return String(v)
}

function bool(section: Record<string, unknown>, key: string, prefix: string, fallback: boolean): boolean {
  const v = section[key]
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'boolean') throw bad(`${prefix}.${key}`, 'must be true or false', `morpheus config set ${prefix}.${key} true`)
  return v
}

function sha(section: Record<string, unknown>, key: string): string | null {
  const v = str(section, key, 'integration').trim()
  if (v === '') return null
  if (!SHA256.test(v))
    throw bad(
      `integration.${key}`,
      'must be 64 hexadecimal characters (a sha256 digest)',
      `Use the output of sha256sum, or set it to "" for no check.`,
    )
  return v.toLowerCase()
}

function size(section: Record<string, unknown>, key: string): string | null {
  const v = str(section, key, 'integration').trim()
  if (v === '') return null
  if (!SIZE.test(v))
    throw bad(`integration.${key}`, `must be a size like 512M or 10G, got "${v}"`, 'Use a number with K, M, G or T, or "" for no limit.')
  return v.replace(/\s+/g, '').toUpperCase()
}

const FILE_PATH = /^\/etc\/morpheus\/[A-Za-z0-9._-]+$/
const PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/
const UNIT_VALUE = /^[^\s\0]+$/

/** The backend's node access, checked so that nothing it says can change more of the user data than its own lines. */
function registryMount(access: BootstrapSources['nodeAccess']): RegistryMount | null {
  if (access instanceof Error) {
    if (access instanceof MorpheusError) throw access
    throw new MorpheusError('REGISTRY', `what a node needs to reach the registry could not be read: ${access.message}`, {
      cause: access,
      hint: (access as {hint?: string}).hint,
    })
  }
  if (!access) return null
  const wrong = (what: string) =>
    new MorpheusError('PLUGIN', `the registry backend's nodeAccess() gave ${what}`, {
      hint: 'Update or report the registry plugin; plant with a registry file meanwhile (another backend).',
    })
  const m = access.mount
  if (!m || typeof m !== 'object') throw wrong('no mount')
  if (typeof m.what !== 'string' || !UNIT_VALUE.test(m.what)) throw wrong('a mount source (what) with white space or none')
  if (typeof m.options !== 'string' || !UNIT_VALUE.test(m.options)) throw wrong('mount options with white space or none')
  if (typeof m.type !== 'string' || !/^[a-z0-9.]+$/.test(m.type)) throw wrong(`a file system type that is not one ("${String(m.type)}")`)
  if (typeof m.description !== 'string' || /[\r\n\0]/.test(m.description)) throw wrong('a mount description over several lines')
  if (typeof access.file !== 'string' || !SEGMENT.test(access.file) || access.file === '.' || access.file === '..')
    throw wrong('a document file name that is not a plain name')
  const files = [...(access.files ?? [])]
  for (const f of files) {
    if (typeof f?.path !== 'string' || !FILE_PATH.test(f.path)) throw wrong(`a file outside /etc/morpheus/ ("${String(f?.path)}")`)
    if (typeof f.content !== 'string' || f.content.includes('\0')) throw wrong(`file ${f.path} with content that is no text`)
  }
  const packages = [...(access.packages ?? [])]
  for (const p of packages) if (typeof p !== 'string' || !PACKAGE.test(p)) throw wrong(`a package name that is not one ("${String(p)}")`)
  return {
    file: access.file,
    files: files.map((f) => ({content: f.content, path: f.path, secret: f.secret === true})),
    mount: {description: m.description, options: m.options, type: m.type, what: m.what},
    packages,
  }
}

function routeTls(section: Record<string, unknown>, io: BootstrapIo): RouteTls | null {
  if (!bool(section, 'route_tls', 'integration', false)) return null
  const read = (key: string): string => {
    const path = str(section, key, 'integration')
    if (!path)
      throw bad(
        `integration.${key}`,
        'must be set when integration.route_tls is true',
        `morpheus config set integration.${key} /path/to/file.pem`,
      )
    if (!io.readFile) throw new MorpheusError('UNEXPECTED', `integration.${key}: no file reader was given to read it`)
    const full = io.resolvePath ? io.resolvePath(path) : path
    let text: string
    try {
      text = io.readFile(full)
    } catch (error) {
      throw bad(`integration.${key}`, `cannot be read (${full}): ${(error as Error).message}`, 'Point it at a PEM file.')
    }
    if (!/^-----BEGIN [A-Z0-9 ]+-----/m.test(text))
      throw bad(`integration.${key}`, `is not a PEM file (${full})`, 'Point it at a PEM file.')
    return text
  }
  return {ca: read('route_tls_ca_file'), cert: read('route_tls_cert_file'), key: read('route_tls_key_file')}
}

/**
 * The bootstrap settings from the config: `integration.*` (defaults applied here too, so an empty
 * object gives the defaults) and the registry backend's node access, if any. Throws a CONFIG error
 * naming the key for a value that cannot be used.
 */
export function bootstrapSettings(sources: BootstrapSources = {}, io: BootstrapIo = {}): BootstrapSettings {
  const integration = sources.integration ?? {}
  const url = str(integration, 'nimsforest_download_url', 'integration', DEFAULT_NIMSFOREST_URL)
  if (!/^https?:\/\/[^\s]+$/.test(url))
    throw bad('integration.nimsforest_download_url', `must be an http(s) URL, got "${url}"`, `e.g. ${DEFAULT_NIMSFOREST_URL}`)
  const version = str(integration, 'nats_version', 'integration', DEFAULT_NATS_VERSION)
  if (!/^\d+\.\d+\.\d+(-[A-Za-z0-9.]+)?$/.test(version))
    throw bad(
      'integration.nats_version',
      `must be a nats-server release like ${DEFAULT_NATS_VERSION}, got "${version}"`,
      `morpheus config set integration.nats_version ${DEFAULT_NATS_VERSION}`,
    )
  const natsUrl = str(integration, 'nats_download_url', 'integration', DEFAULT_NATS_URL)
  if (!/^https?:\/\/[^\s]+$/.test(natsUrl))
    throw bad('integration.nats_download_url', `must be an http(s) URL, got "${natsUrl}"`, `e.g. ${DEFAULT_NATS_URL}`)
  return {
    clientLocalOnly: bool(integration, 'client_local_only', 'integration', true),
    jetstream: {max_file: size(integration, 'jetstream_max_file'), max_memory: size(integration, 'jetstream_max_memory')},
    nats: {
      install: bool(integration, 'nats_install', 'integration', true),
      sha256: sha(integration, 'nats_sha256'),
      url: natsUrl.replaceAll('{version}', version),
      urlTemplate: natsUrl,
      version,
    },
    nimsforest: {sha256: sha(integration, 'nimsforest_sha256'), url},
    routeTls: routeTls(integration, io),
    registryMount: registryMount(sources.nodeAccess),
  }
}

/** A nats-server release as the config and `upgrade --nats` take it: 2.10.24, 2.11.0-rc.1. */
export const NATS_VERSION = /^\d+\.\d+\.\d+(-[A-Za-z0-9.]+)?$/

/**
 * The nats-server and NimsForest a node gets: the pinned versions (a forest's recorded ones, an
 * upgrade's target) where given, else the config's. A pinned nats version other than the config's
 * downloads from the URL template with that version, and the config's sha256 (which is for the
 * config's version) is not applied to it.
 */
export function pinnedBootstrap(settings: BootstrapSettings, pinned: {nats?: string; nimsforest?: string} | undefined): BootstrapSettings {
  if (!pinned) return settings
  let nats = settings.nats
  if (pinned.nats && pinned.nats !== nats.version) {
    if (!NATS_VERSION.test(pinned.nats))
      throw bad(
        'the nats version',
        `must be a nats-server release like ${DEFAULT_NATS_VERSION}, got "${pinned.nats}"`,
        'Name a release of https://github.com/nats-io/nats-server/releases.',
      )
    nats = {...nats, sha256: null, url: nats.urlTemplate.replaceAll('{version}', pinned.nats), version: pinned.nats}
  }
  let nimsforest = settings.nimsforest
  if (pinned.nimsforest && pinned.nimsforest !== nimsforest.url) {
    if (!/^https?:\/\/[^\s]+$/.test(pinned.nimsforest))
      throw bad('the NimsForest build', `must be an http(s) URL, got "${pinned.nimsforest}"`, `e.g. ${DEFAULT_NIMSFOREST_URL}`)
    nimsforest = {sha256: null, url: pinned.nimsforest}
  }
  return {...settings, nats, nimsforest}
}

/** The versions a node gets from these settings (what CreatedNode.versions reports). */
export function bootstrapVersions(
  settings: BootstrapSettings,
  natsMode: 'system' | 'embedded',
): {nats?: string; nats_source?: string; nimsforest: string} {
  return natsMode === 'system' && settings.nats.install
    ? {nats: settings.nats.version, nats_source: settings.nats.url, nimsforest: settings.nimsforest.url}
    : {nimsforest: settings.nimsforest.url}
}

/** A CIDR (or a single address) as ufw takes it; throws a CONFIG error otherwise. */
export function checkCidr(value: string, key = 'operator CIDR'): string {
  const [address, prefix, extra] = value.split('/')
  const family = isIP(address ?? '')
  const max = family === 6 ? 128 : 32
  const ok = family !== 0 && extra === undefined && (prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max))
  if (!ok) throw bad(key, `is not an address or CIDR: "${value}"`, 'e.g. 203.0.113.0/24 or 2001:db8::/48')
  return value
}
