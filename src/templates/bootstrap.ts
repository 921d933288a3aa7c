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
  /** The nodes' read-only account (a sub-account whose home is the registry's folder), never the registry's own user. */
  username: string
  /** Goes only into a root-only credentials file on the node; never the registry's own password. */
  password: string
}

/** The nodes' read-only account as the registry's secret storage keeps it (`registry init` puts it there). */
export interface NodeMountCredentials {
  username: string
  password: string
  /** Host name of the account (//<server>/<username>); derived from storagebox_host when absent. */
  server?: string
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
  /** With a Storage Box registry, the CIFS mount of its folder; otherwise null (the user data writes the registry file). */
  storageBox: StorageBoxMount | null
}

export interface BootstrapSources {
  /** `integration` from the loaded config (values, `${ENV}` expanded). */
  integration?: Record<string, unknown>
  /** The `registry` section, `${ENV}` expanded (the password included). */
  registry?: Record<string, unknown>
  /**
   * The nodes' read-only account from the registry's secret storage (read by the caller, which may
   * do I/O): used when the config sets no registry.node_username / node_password. An Error is what
   * reading it threw, raised only when a node's mount needs it.
   */
  nodeMount?: NodeMountCredentials | Error | null
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

/** How to give nodes a read-only account, for the error that says none is set. */
const NODE_ACCOUNT_HINT = 'Cloud nodes mount the registry folder with a read-only sub-account, never with the registry\'s own password. Have one made through the Hetzner API: export HETZNER_API_TOKEN=... and run `morpheus registry init --setup existing-box --url <url> --username <user> --password-env <VAR>` again; or make it by hand in the Hetzner console (a sub-account with the registry folder as home directory, read-only, SMB on) and set registry.node_username and registry.node_password (best as ${ENV}). See docs/storagebox.md.'

/** The nodes' read-only account: the config's registry.node_username / node_password, else the registry's secret storage. */
function nodeAccount(registry: Record<string, unknown>, stored: BootstrapSources['nodeMount']): NodeMountCredentials {
  const username = str(registry, 'node_username', 'registry')
  const password = str(registry, 'node_password', 'registry')
  if (username !== '' || password !== '') {
    if (username === '') throw bad('registry.node_username', 'is not set, but registry.node_password is', 'Set both: morpheus config set registry.node_username u123456-sub1')
    if (password === '') throw bad('registry.node_password', 'is not set, but registry.node_username is', 'Set both: morpheus config set registry.node_password \'${NODE_MOUNT_PASSWORD}\'')
    return {password, username}
  }
  if (stored instanceof Error) {
    throw new MorpheusError('REGISTRY', `the nodes' read-only account could not be read from the registry's secret storage: ${stored.message}`, {cause: stored, hint: (stored as {hint?: string}).hint ?? 'Run the command again; if it persists, set registry.node_username and registry.node_password.'})
  }
  if (stored) return stored
  throw new MorpheusError('CONFIG', 'no read-only account for the nodes to mount the Storage Box registry with (registry.node_username / registry.node_password are not set, and the registry\'s secret storage holds none)', {hint: NODE_ACCOUNT_HINT})
}

function storageBox(registry: Record<string, unknown>, stored: BootstrapSources['nodeMount']): StorageBoxMount | null {
  if (registry.type !== 'storagebox') return null
  const url = str(registry, 'url', 'registry')
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw bad('registry.url', 'is not a URL', 'Set the WebDAV URL of the registry document, e.g. https://u123456.your-storagebox.de/morpheus/registry.json')
  }
  const host = str(registry, 'storagebox_host', 'registry', parsed.hostname)
  if (!HOST.test(host)) throw bad('registry.storagebox_host', `is not a host name: "${host}"`, 'e.g. u123456.your-storagebox.de (the host nodes mount over CIFS)')
  const parts = decodeURIComponent(parsed.pathname).split('/').filter(Boolean)
  const file = parts.pop() ?? ''
  if (!file || !parts.concat(file).every((p) => SEGMENT.test(p) && p !== '.' && p !== '..')) {
    throw bad('registry.url', 'must name the registry file in a folder of plain names (letters, digits, . _ -)', 'e.g. https://u123456.your-storagebox.de/morpheus/registry.json')
  }
  const account = nodeAccount(registry, stored)
  const main = {password: str(registry, 'password', 'registry'), username: str(registry, 'username', 'registry')}
  if (account.username === main.username || (main.password !== '' && account.password === main.password)) {
    throw bad('registry.node_username', 'names the registry\'s own read-write account: a compromised node could rewrite the registry', NODE_ACCOUNT_HINT)
  }
  if (!USER.test(account.username)) throw bad('registry.node_username', 'must be a Storage Box user name (letters, digits, . _ -)', 'e.g. u123456-sub1')
  if (account.password === '') throw bad('registry.node_password', 'is empty', 'Set the node account\'s password: morpheus config set registry.node_password \'${NODE_MOUNT_PASSWORD}\'')
  if (/[\r\n\0]/.test(account.password)) throw bad('registry.node_password', 'contains a line break or NUL, which a CIFS credentials file cannot hold', 'Choose a password without line breaks.')
  const sub = /^(.+)-sub\d+$/.exec(account.username)
  if (sub) {
    // A sub-account's share is its own name and its top is its home directory: the registry's folder.
    const server = account.server ?? (host === `${sub[1]}.your-storagebox.de` ? `${account.username}.your-storagebox.de` : host)
    if (!HOST.test(server)) throw bad('registry.node_username', `gives no usable host name ("${server}")`, 'Set registry.storagebox_host to the box\'s host name.')
    return {file, folder: '', host: server, password: account.password, share: account.username, username: account.username}
  }
  // Another read-only user that sees the whole share (not a Storage Box sub-account).
  return {file, folder: parts.join('/'), host: account.server ?? host, password: account.password, share: 'backup', username: account.username}
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
    nats: {install: bool(integration, 'nats_install', 'integration', true), sha256: sha(integration, 'nats_sha256'), url: natsUrl.replaceAll('{version}', version), urlTemplate: natsUrl, version},
    nimsforest: {sha256: sha(integration, 'nimsforest_sha256'), url},
    routeTls: routeTls(integration, io),
    storageBox: storageBox(sources.registry ?? {}, sources.nodeMount),
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
    if (!NATS_VERSION.test(pinned.nats)) throw bad('the nats version', `must be a nats-server release like ${DEFAULT_NATS_VERSION}, got "${pinned.nats}"`, 'Name a release of https://github.com/nats-io/nats-server/releases.')
    nats = {...nats, sha256: null, url: nats.urlTemplate.replaceAll('{version}', pinned.nats), version: pinned.nats}
  }
  let nimsforest = settings.nimsforest
  if (pinned.nimsforest && pinned.nimsforest !== nimsforest.url) {
    if (!/^https?:\/\/[^\s]+$/.test(pinned.nimsforest)) throw bad('the NimsForest build', `must be an http(s) URL, got "${pinned.nimsforest}"`, `e.g. ${DEFAULT_NIMSFOREST_URL}`)
    nimsforest = {sha256: null, url: pinned.nimsforest}
  }
  return {...settings, nats, nimsforest}
}

/** The versions a node gets from these settings (what CreatedNode.versions reports). */
export function bootstrapVersions(settings: BootstrapSettings, natsMode: 'system' | 'embedded'): {nats?: string; nats_source?: string; nimsforest: string} {
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
