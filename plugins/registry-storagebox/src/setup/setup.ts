/**
 * The storagebox backend's guided set-up (RegistryDescriptor.setup): `new-box` creates a Hetzner
 * Storage Box through the Hetzner API, `existing-box` uses one (or any WebDAV server) the user has.
 * For either, `finish` gives cloud nodes their own read-only sub-account limited to the registry's
 * folder and keeps it in the registry's secret storage (see node-access.ts, which reads it back).
 */
import {randomBytes} from 'node:crypto'

import type {Logger, PluginContext, RegistryBackend, RegistrySetup, RegistrySetupRequest} from 'morpheus/plugin-api'

import {NODE_MOUNT_SECRET, REGISTRY_SECRETS, type NodeMountSecret} from '../node-account.js'
import {createNodeAccount, createStorageBox, type CreatedBox} from './storage-box-api.js'

/** The read-only account cloud nodes mount the registry's folder with, as `registry init --json` reports it. */
export interface NodeAccountResult {
  /** Made (or its password reset) through the Hetzner API, credentials kept in the registry's secret storage. */
  created: boolean
  username?: string
  server?: string
  home_directory?: string
  /** Why none was made, and what to do by hand. */
  reason?: string
  hint?: string
}

/** A password the Hetzner API accepts (upper, lower, digit, special) and YAML / ${ENV} leave alone. */
function newPassword(): string {
  return `${randomBytes(24).toString('base64url').replace(/[-_]/g, 'x')}Aa1-`
}

function apiEndpoint(given: string | undefined): string {
  return given || process.env.HETZNER_ENDPOINT || 'https://api.hetzner.com/v1'
}

/** How to make the nodes' read-only account by hand (the Hetzner console), for a registry in `folder`. */
export function nodeAccountByHand(folder: string): string {
  return [
    `In the Hetzner console, add a sub-account to the Storage Box with home directory "${folder || '<the registry folder>'}", read-only, Samba/SMB on, WebDAV and SSH off;`,
    "then: morpheus config set registry.node_username u123456-subN && morpheus config set registry.node_password '${NODE_MOUNT_PASSWORD}'",
    '(or export HETZNER_API_TOKEN and run `morpheus registry init --setup existing-box ...` again to have it made).',
  ].join(' ')
}

/**
 * Give cloud nodes their own read-only account on the box, limited to the registry's folder, and
 * keep its credentials in the registry's secret storage: the registry's own read-write password
 * never goes into a node's user data. Without an API that knows the box, says how to do it by hand.
 */
export async function setUpNodeAccount(
  backend: RegistryBackend,
  registry: {url: string; username: string},
  options: {apiEndpoint?: string; token: string; log: Logger; error: PluginContext['error']; signal?: AbortSignal},
): Promise<NodeAccountResult> {
  let folder = ''
  try {
    folder = decodeURIComponent(new URL(registry.url).pathname).split('/').filter(Boolean).slice(0, -1).join('/')
  } catch {
    // the backend has refused a bad URL already
  }
  const manual = (reason: string): NodeAccountResult => {
    const hint = nodeAccountByHand(folder)
    options.log.warn(
      `No read-only account for the nodes was made: ${reason}. Cloud plants need one (the registry's own password never goes to a node). ${hint}`,
    )
    return {created: false, hint, reason}
  }
  if (!options.token) return manual('no Hetzner API token (secrets.hetzner_api_token, HCLOUD_TOKEN or HETZNER_API_TOKEN) to make it with')
  const secrets = backend.secrets
  if (!secrets) return manual(`the registry at ${backend.location} keeps no secrets`)
  const password = newPassword()
  let account
  try {
    account = await createNodeAccount({
      endpoint: apiEndpoint(options.apiEndpoint),
      folder,
      password,
      progress: (m) => options.log.info(`  ${m}`),
      signal: options.signal,
      token: options.token,
      username: registry.username,
    })
  } catch (error) {
    const e = error as {message?: string; hint?: string; code?: string; noApi?: boolean}
    if (e.noApi) return manual(e.message ?? String(error))
    // A token that may not manage Storage Boxes: the registry itself works; say what to do.
    if (e.code === 'AUTH') return manual(`${e.message ?? String(error)} (${e.hint ?? 'check the token'})`)
    throw options.error('FAILED', `making the nodes' read-only account: ${e.message ?? String(error)}`, e.hint, {cause: error})
  }
  const kept: NodeMountSecret = {password, server: account.server, username: account.username}
  await secrets.set(REGISTRY_SECRETS, NODE_MOUNT_SECRET, JSON.stringify(kept))
  options.log.info(
    `  Cloud nodes will mount the registry folder read-only as ${account.username} (credentials kept in the registry's secret storage)`,
  )
  return {created: true, home_directory: account.home_directory, server: account.server, username: account.username}
}

export async function setUpStorageBox({choice, context, questions}: RegistrySetupRequest): Promise<RegistrySetup> {
  const token = context.secrets.hetzner_api_token ?? ''
  const endpoint = questions.given('api-endpoint')
  let section: Record<string, unknown>
  let box: CreatedBox | undefined
  if (choice === 'existing-box') {
    const url = await questions.text('url', {
      default: 'https://u123456.your-storagebox.de/morpheus/registry.json',
      message: 'WebDAV URL of the registry document',
    })
    const username = await questions.text('username', {message: 'User name (e.g. u123456)'})
    const secret = await questions.secret('password-env', {message: 'Password (kept in the config file, mode 0600)'})
    let host = questions.given('storagebox-host')
    try {
      host ??= new URL(url).hostname
    } catch {
      // the backend names the bad URL
    }
    section = {password: secret, storagebox_host: host, type: 'storagebox', url, username}
  } else if (choice === 'new-box') {
    if (!token)
      throw context.error(
        'CONFIG',
        'creating a Storage Box needs a Hetzner API token',
        'export HETZNER_API_TOKEN=... (a read-write token of your project), or set secrets.hetzner_api_token.',
      )
    const secret = newPassword()
    try {
      box = await createStorageBox({
        endpoint: apiEndpoint(endpoint),
        location: questions.given('location') ?? 'fsn1',
        name: questions.given('box-name') ?? 'morpheus-registry',
        password: secret,
        progress: (m) => context.log.info(`  ${m}`),
        signal: context.signal,
        token,
        type: questions.given('box-type') ?? 'bx11',
      })
    } catch (error) {
      const e = error as {message?: string; hint?: string; code?: string}
      // A token the API refuses is the user's to fix (exit 3); the rest are the registry's (exit 4).
      throw context.error(e.code === 'AUTH' ? 'CONFIG' : 'FAILED', e.message ?? String(error), e.hint, {cause: error})
    }
    const origin = (questions.given('webdav-origin') ?? `https://${box.server}`).replace(/\/$/, '')
    const folder = (questions.given('folder') ?? 'morpheus').replace(/^\/+|\/+$/g, '')
    section = {
      password: secret,
      storagebox_host: box.server,
      type: 'storagebox',
      url: `${origin}/${folder ? `${folder}/` : ''}registry.json`,
      username: box.username,
    }
  } else {
    throw context.error('FAILED', `no set-up "${choice}" (new-box or existing-box)`)
  }
  return {
    async finish(backend) {
      const nodeAccount = await setUpNodeAccount(
        backend,
        {url: String(section.url), username: String(section.username)},
        {apiEndpoint: endpoint, error: context.error, log: context.log, signal: context.signal, token},
      )
      return {node_account: nodeAccount}
    },
    report: box ? {box} : {},
    section,
  }
}
