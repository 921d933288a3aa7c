/**
 * What the cloud-init user data needs besides the node itself: where NimsForest and nats-server
 * come from, JetStream limits, route TLS, and (with a Storage Box registry) how a node mounts the
 * registry's folder. Derived from the config by one pure function, so the runtime passes it to
 * createRenderer and tests can build it from plain objects.
 */
import {isIP} from 'node:net'

import {MorpheusError} from '../errors.js'

export interface StorageBoxMount {
  /** CIFS server, e.g. u123456.your-storagebox.de */
  host: string
  /** SMB share: `backup` for the main account, the sub-account's user name for a sub-account. */
  share: string
  /** The registry's own folder inside the share (no leading or trailing slash; '' for the top). */
  folder: string
  /** The registry document's file name in that folder (NimsForest reads /mnt/forest/<file>). */
  file: string
  username: string
  /** Goes only into a root-only credentials file on the node. */
  password: string
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
    /** Expected sha256 of the release archive, or null. */
    sha256: string | null
  }
  jetstream: {max_memory: string | null; max_file: string | null}
  /** Bind the client port to 127.0.0.1 (true, the default) or to every address (false; the host firewall admits forest nodes and operators). */
  clientLocalOnly: boolean
  routeTls: RouteTls | null
  /** With a Storage Box registry, the CIFS mount of its folder; otherwise null (the user data writes the registry file). */
  storageBox: StorageBoxMount | null
}

export interface BootstrapSources {
  /** `integration` from the loaded config (values, `${ENV}` expanded). */
  integration?: Record<string, unknown>
  /** The `registry` section, `${ENV}` expanded (the password included). */
  registry?: Record<string, unknown>
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
export const DEFAULT_NATS_URL = 'https://github.com/nats-io/nats-server/releases/download/v{version}/nats-server-v{version}-linux-{arch}.tar.gz'

const SIZE = /^\d+(\.\d+)?\s*[KMGT]?B?$/i
const SHA256 = /^[0-9a-f]{64}$/i
const HOST = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
const SEGMENT = /^[A-Za-z0-9._-]+$/
const USER = /^[A-Za-z0-9._-]+$/

function bad(key: string, message: string, hint: string): MorpheusError {
  return new MorpheusError('CONFIG', `${key} ${message}`, {hint})
}

function str(section: Record<string, unknown>, key: string, prefix: string, fallback = ''): string {
  const v = section[key]
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'string' && typeof v !== 'number') throw bad(`${prefix}.${key}`, 'must be a string', `Set it with: morpheus config set ${prefix}.${key} <value>`)
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
  if (!SHA256.test(v)) throw bad(`integration.${key}`, 'must be 64 hexadecimal characters (a sha256 digest)', `Use the output of sha256sum, or set it to "" for no check.`)
  return v.toLowerCase()
}

function size(section: Record<string, unknown>, key: string): string | null {
  const v = str(section, key, 'integration').trim()
  if (v === '') return null
  if (!SIZE.test(v)) throw bad(`integration.${key}`, `must be a size like 512M or 10G, got "${v}"`, 'Use a number with K, M, G or T, or "" for no limit.')
  return v.replace(/\s+/g, '').toUpperCase()
}

function storageBox(registry: Record<string, unknown>): StorageBoxMount | null {
  if (registry.type !== 'storagebox') return null
  const url = str(registry, 'url', 'registry')
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw bad('registry.url', 'is not a URL', 'Set the WebDAV URL of the registry document, e.g. https://u123456.your-storagebox.de/morpheus/registry.json')
  }
  const username = str(registry, 'username', 'registry')
  if (!USER.test(username)) throw bad('registry.username', 'must be a Storage Box user name (letters, digits, . _ -)', 'e.g. u123456 or u123456-sub1')
  const host = str(registry, 'storagebox_host', 'registry', parsed.hostname)
  if (!HOST.test(host)) throw bad('registry.storagebox_host', `is not a host name: "${host}"`, 'e.g. u123456.your-storagebox.de (the host nodes mount over CIFS)')
  const password = str(registry, 'password', 'registry')
  if (password === '') throw bad('registry.password', 'is empty: nodes need it to mount the registry folder', 'Set registry.password (best as ${STORAGEBOX_PASSWORD}).')
  if (/[\r\n\0]/.test(password)) throw bad('registry.password', 'contains a line break or NUL, which a CIFS credentials file cannot hold', 'Choose a password without line breaks.')
  const parts = decodeURIComponent(parsed.pathname).split('/').filter(Boolean)
  const file = parts.pop() ?? ''
  if (!file || !parts.concat(file).every((p) => SEGMENT.test(p) && p !== '.' && p !== '..')) {
    throw bad('registry.url', 'must name the registry file in a folder of plain names (letters, digits, . _ -)', 'e.g. https://u123456.your-storagebox.de/morpheus/registry.json')
  }
  return {file, folder: parts.join('/'), host, password, share: /-sub\d+$/.test(username) ? username : 'backup', username}
}

function routeTls(section: Record<string, unknown>, io: BootstrapIo): RouteTls | null {
  if (!bool(section, 'route_tls', 'integration', false)) return null
  const read = (key: string): string => {
    const path = str(section, key, 'integration')
    if (!path) throw bad(`integration.${key}`, 'must be set when integration.route_tls is true', `morpheus config set integration.${key} /path/to/file.pem`)
    if (!io.readFile) throw new MorpheusError('UNEXPECTED', `integration.${key}: no file reader was given to read it`)
    const full = io.resolvePath ? io.resolvePath(path) : path
    let text: string
    try {
      text = io.readFile(full)
    } catch (error) {
      throw bad(`integration.${key}`, `cannot be read (${full}): ${(error as Error).message}`, 'Point it at a PEM file.')
    }
    if (!/^-----BEGIN [A-Z0-9 ]+-----/m.test(text)) throw bad(`integration.${key}`, `is not a PEM file (${full})`, 'Point it at a PEM file.')
    return text
  }
  return {ca: read('route_tls_ca_file'), cert: read('route_tls_cert_file'), key: read('route_tls_key_file')}
}

/**
 * The bootstrap settings from the config: `integration.*` (defaults applied here too, so an empty
 * object gives the defaults) and, when `registry.type` is storagebox, the CIFS mount. Throws a
 * CONFIG error naming the key for a value that cannot be used.
 */
export function bootstrapSettings(sources: BootstrapSources = {}, io: BootstrapIo = {}): BootstrapSettings {
  const integration = sources.integration ?? {}
  const url = str(integration, 'nimsforest_download_url', 'integration', DEFAULT_NIMSFOREST_URL)
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw bad('integration.nimsforest_download_url', `must be an http(s) URL, got "${url}"`, `e.g. ${DEFAULT_NIMSFOREST_URL}`)
  const version = str(integration, 'nats_version', 'integration', DEFAULT_NATS_VERSION)
  if (!/^\d+\.\d+\.\d+(-[A-Za-z0-9.]+)?$/.test(version)) throw bad('integration.nats_version', `must be a nats-server release like ${DEFAULT_NATS_VERSION}, got "${version}"`, `morpheus config set integration.nats_version ${DEFAULT_NATS_VERSION}`)
  const natsUrl = str(integration, 'nats_download_url', 'integration', DEFAULT_NATS_URL)
  if (!/^https?:\/\/[^\s]+$/.test(natsUrl)) throw bad('integration.nats_download_url', `must be an http(s) URL, got "${natsUrl}"`, `e.g. ${DEFAULT_NATS_URL}`)
  return {
    clientLocalOnly: bool(integration, 'client_local_only', 'integration', true),
    jetstream: {max_file: size(integration, 'jetstream_max_file'), max_memory: size(integration, 'jetstream_max_memory')},
    nats: {install: bool(integration, 'nats_install', 'integration', true), sha256: sha(integration, 'nats_sha256'), url: natsUrl.replaceAll('{version}', version), version},
    nimsforest: {sha256: sha(integration, 'nimsforest_sha256'), url},
    routeTls: routeTls(integration, io),
    storageBox: storageBox(sources.registry ?? {}),
  }
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
