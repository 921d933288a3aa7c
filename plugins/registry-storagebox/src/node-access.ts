/**
 * What a cloud node needs to read a Storage Box registry (RegistryBackend.nodeAccess): a read-only
 * CIFS mount of the registry's folder, as the nodes' own read-only account (a sub-account whose
 * home is that folder), never as the registry's read-write user. Derived from the backend's config
 * section and the account kept in its secret storage by one pure function, so it is tested
 * without a server.
 */
import type {NodeAccess, PluginContext} from 'morpheus/plugin-api'

import type {NodeMountSecret} from './node-account.js'

/** Where the node keeps the account's credentials (root only); the mount reads it. */
export const CREDENTIALS_FILE = '/etc/morpheus/storagebox.credentials'

const HOST = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
const SEGMENT = /^[A-Za-z0-9._-]+$/
const USER = /^[A-Za-z0-9._-]+$/

/** How to give nodes a read-only account, for the error that says none is set. */
export const NODE_ACCOUNT_HINT =
  "Cloud nodes mount the registry folder with a read-only sub-account, never with the registry's own password. Have one made through the Hetzner API: export HETZNER_API_TOKEN=... and run `morpheus registry init --setup existing-box --url <url> --username <user> --password-env <VAR>` again; or make it by hand in the Hetzner console (a sub-account with the registry folder as home directory, read-only, SMB on) and set registry.node_username and registry.node_password (best as ${ENV}). See docs/storagebox.md."

type ErrorFn = PluginContext['error']

function str(section: Record<string, unknown>, key: string, error: ErrorFn, fallback = ''): string {
  const v = section[key]
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'string' && typeof v !== 'number')
    throw error('CONFIG', `registry.${key} must be a string`, `Set it with: morpheus config set registry.${key} <value>`)
  return String(v)
}

/** The config sets the nodes' account itself (registry.node_username / node_password), so the secret storage is not asked. */
export function accountInConfig(config: Record<string, unknown>): boolean {
  return (
    (config.node_username !== undefined && config.node_username !== null) ||
    (config.node_password !== undefined && config.node_password !== null)
  )
}

/** The nodes' read-only account: the config's registry.node_username / node_password, else the one kept in the secret storage. */
function nodeAccount(
  config: Record<string, unknown>,
  stored: NodeMountSecret | null | undefined,
  error: ErrorFn,
): {username: string; password: string; server?: string} {
  const username = str(config, 'node_username', error)
  const password = str(config, 'node_password', error)
  if (username !== '' || password !== '') {
    if (username === '')
      throw error(
        'CONFIG',
        'registry.node_username is not set, but registry.node_password is',
        'Set both: morpheus config set registry.node_username u123456-sub1',
      )
    if (password === '')
      throw error(
        'CONFIG',
        'registry.node_password is not set, but registry.node_username is',
        "Set both: morpheus config set registry.node_password '${NODE_MOUNT_PASSWORD}'",
      )
    return {password, username}
  }
  if (stored) return stored
  throw error(
    'CONFIG',
    "no read-only account for the nodes to mount the Storage Box registry with (registry.node_username / registry.node_password are not set, and the registry's secret storage holds none)",
    NODE_ACCOUNT_HINT,
  )
}

/**
 * The mount of the registry's folder for the backend's config section (`${ENV}` expanded) and the
 * account kept in its secret storage (`stored`; ignored when the config names one). Throws CONFIG
 * errors naming the key for a value that cannot be used, never quoting a password.
 */
export function storageBoxNodeAccess(
  config: Record<string, unknown>,
  stored: NodeMountSecret | null | undefined,
  error: ErrorFn,
): NodeAccess {
  const url = str(config, 'url', error)
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw error(
      'CONFIG',
      'registry.url is not a URL',
      'Set the WebDAV URL of the registry document, e.g. https://u123456.your-storagebox.de/morpheus/registry.json',
    )
  }
  const host = str(config, 'storagebox_host', error, parsed.hostname)
  if (!HOST.test(host))
    throw error(
      'CONFIG',
      `registry.storagebox_host is not a host name: "${host}"`,
      'e.g. u123456.your-storagebox.de (the host nodes mount over CIFS)',
    )
  const parts = decodeURIComponent(parsed.pathname).split('/').filter(Boolean)
  const file = parts.pop() ?? ''
  if (!file || !parts.concat(file).every((p) => SEGMENT.test(p) && p !== '.' && p !== '..')) {
    throw error(
      'CONFIG',
      'registry.url must name the registry file in a folder of plain names (letters, digits, . _ -)',
      'e.g. https://u123456.your-storagebox.de/morpheus/registry.json',
    )
  }
  const account = nodeAccount(config, stored, error)
  const main = {password: str(config, 'password', error), username: str(config, 'username', error)}
  if (account.username === main.username || (main.password !== '' && account.password === main.password)) {
    throw error(
      'CONFIG',
      "registry.node_username names the registry's own read-write account: a compromised node could rewrite the registry",
      NODE_ACCOUNT_HINT,
    )
  }
  if (!USER.test(account.username))
    throw error('CONFIG', 'registry.node_username must be a Storage Box user name (letters, digits, . _ -)', 'e.g. u123456-sub1')
  if (account.password === '')
    throw error(
      'CONFIG',
      'registry.node_password is empty',
      "Set the node account's password: morpheus config set registry.node_password '${NODE_MOUNT_PASSWORD}'",
    )
  if (/[\r\n\0]/.test(account.password))
    throw error(
      'CONFIG',
      'registry.node_password contains a line break or NUL, which a CIFS credentials file cannot hold',
      'Choose a password without line breaks.',
    )
  let server: string
  let share: string
  let folder: string
  const sub = /^(.+)-sub\d+$/.exec(account.username)
  if (sub) {
    // A sub-account's share is its own name and its top is its home directory: the registry's folder.
    server = account.server ?? (host === `${sub[1]}.your-storagebox.de` ? `${account.username}.your-storagebox.de` : host)
    if (!HOST.test(server))
      throw error(
        'CONFIG',
        `registry.node_username gives no usable host name ("${server}")`,
        "Set registry.storagebox_host to the box's host name.",
      )
    share = account.username
    folder = ''
  } else {
    // Another read-only user that sees the whole share (not a Storage Box sub-account).
    server = account.server ?? host
    share = 'backup'
    folder = parts.join('/')
  }
  return {
    file,
    files: [{content: `username=${account.username}\npassword=${account.password}\n`, path: CREDENTIALS_FILE, secret: true}],
    mount: {
      description: 'Morpheus registry folder on the Storage Box (read-only)',
      options: `ro,seal,credentials=${CREDENTIALS_FILE},uid=0,gid=0,file_mode=0444,dir_mode=0555,iocharset=utf8,_netdev`,
      type: 'cifs',
      what: `//${server}/${[share, folder].filter(Boolean).join('/')}`,
    },
    packages: ['cifs-utils'],
  }
}
