/**
 * Create (or find) a Hetzner Storage Box through the Hetzner API's Storage Box endpoints
 * (https://api.hetzner.com/v1, bearer token): find-before-create by name, wait until it is
 * active, switch on WebDAV, SMB and external reachability, set a fresh password.
 */
export interface CreateBoxOptions {
  endpoint: string
  token: string
  name: string
  type: string
  location: string
  password: string
  signal?: AbortSignal
  progress?: (message: string) => void
  /** How long to wait for the box and each action. */
  timeoutMs?: number
  pollMs?: number
}

export interface CreatedBox {
  id: number
  name: string
  username: string
  /** Host name of the box (WebDAV https://<server>/, CIFS //<server>/backup). */
  server: string
  /** true when a box of that name existed already (its password was reset). */
  existed: boolean
}

interface ApiBox {
  id: number
  name: string
  username: string | null
  status: string
  server: string | null
  access_settings?: Record<string, boolean>
}

interface ApiAction {
  id: number
  status: 'running' | 'success' | 'error'
  error?: {code: string; message: string} | null
}

export class StorageBoxApiError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    readonly code: 'AUTH' | 'FAILED' | 'UNREACHABLE' | 'PREREQUISITE',
    readonly transient = false,
  ) {
    super(message)
  }
}

const ACCESS = {reachable_externally: true, samba_enabled: true, webdav_enabled: true}

export async function createStorageBox(options: CreateBoxOptions): Promise<CreatedBox> {
  const api = new StorageBoxApi(options.endpoint, options.token, options.signal)
  const timeoutMs = options.timeoutMs ?? 600_000
  const pollMs = options.pollMs ?? 2000
  const say = options.progress ?? (() => undefined)
  const found = (
    await api.call<{storage_boxes: ApiBox[]}>('GET', `/storage_boxes?name=${encodeURIComponent(options.name)}`)
  ).storage_boxes.find((b) => b.name === options.name)
  let box: ApiBox
  let existed = false
  if (found) {
    existed = true
    box = found
    say(`Found Storage Box ${found.name} (#${found.id}); reusing it`)
  } else {
    say(`Creating Storage Box ${options.name} (${options.type}, ${options.location})`)
    const created = await api.call<{storage_box: ApiBox; action?: ApiAction}>('POST', '/storage_boxes', {
      access_settings: {...ACCESS, ssh_enabled: false, zfs_enabled: false},
      labels: {'managed-by': 'morpheus'},
      location: options.location,
      name: options.name,
      password: options.password,
      storage_box_type: options.type,
    })
    box = created.storage_box
    if (created.action) await api.waitAction(created.action, timeoutMs, pollMs, 'the Storage Box to be created')
  }
  box = await api.poll(
    async () => {
      const b = (await api.call<{storage_box: ApiBox}>('GET', `/storage_boxes/${box.id}`)).storage_box
      return b.status === 'active' && b.username && b.server ? b : undefined
    },
    timeoutMs,
    pollMs,
    `Storage Box ${options.name} to be ready`,
  )
  say(`Storage Box ${box.name} is ready (${box.server})`)
  const a = await api.call<{action: ApiAction}>('POST', `/storage_boxes/${box.id}/actions/update_access_settings`, {
    ...ACCESS,
    ssh_enabled: box.access_settings?.ssh_enabled ?? false,
    zfs_enabled: box.access_settings?.zfs_enabled ?? false,
  })
  await api.waitAction(a.action, timeoutMs, pollMs, 'WebDAV, SMB and external reachability to be switched on')
  say('WebDAV, SMB and external reachability are on')
  if (existed) {
    const r = await api.call<{action: ApiAction}>('POST', `/storage_boxes/${box.id}/actions/reset_password`, {password: options.password})
    await api.waitAction(r.action, timeoutMs, pollMs, 'the new password to be set')
    say('Set a new password (the old one was not known here)')
  }
  return {existed, id: box.id, name: box.name, server: box.server!, username: box.username!}
}

class StorageBoxApi {
  constructor(
    private readonly endpoint: string,
    private readonly token: string,
    private readonly signal?: AbortSignal,
  ) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.endpoint.replace(/\/$/, '')}${path}`
    let response: Response
    try {
      response = await fetch(url, {
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: {authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : {'content-type': 'application/json'})},
        method,
        signal: AbortSignal.any([AbortSignal.timeout(30_000), ...(this.signal ? [this.signal] : [])]),
      })
    } catch (error) {
      if (this.signal?.aborted) throw error
      throw new StorageBoxApiError(
        `cannot reach the Hetzner API at ${url}: ${(error as Error).message}`,
        'Check your network; the API base can be changed with HETZNER_ENDPOINT.',
        'UNREACHABLE',
        true,
      )
    }
    const text = await response.text()
    if (response.status === 401 || response.status === 403) {
      throw new StorageBoxApiError(
        `the Hetzner API refused the token (${response.status} at ${method} ${url})`,
        'Set HETZNER_API_TOKEN (or secrets.hetzner_api_token) to a read-write API token of your project.',
        'AUTH',
      )
    }
    if (!response.ok) {
      let message = text.slice(0, 300)
      try {
        const e = (JSON.parse(text) as {error?: {code?: string; message?: string}}).error
        if (e) message = `${e.code}: ${e.message}`
      } catch {
        // not JSON
      }
      throw new StorageBoxApiError(
        `${method} ${url} failed (${response.status}): ${message}`,
        response.status >= 500 ? 'The API had a problem; try again in a moment.' : 'Check the name, type and location given.',
        'FAILED',
        response.status >= 500 || response.status === 429,
      )
    }
    return (text ? JSON.parse(text) : {}) as T
  }

  async poll<T>(check: () => Promise<T | undefined>, timeoutMs: number, pollMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = await check()
      if (value !== undefined) return value
      if (Date.now() > deadline)
        throw new StorageBoxApiError(
          `gave up waiting for ${what} after ${Math.round(timeoutMs / 1000)} s`,
          'Look at the box in the Hetzner console; run `morpheus registry init` again to continue (it finds the box by name).',
          'FAILED',
        )
      await new Promise((resolve) => setTimeout(resolve, pollMs))
      if (this.signal?.aborted) throw this.signal.reason
    }
  }

  async waitAction(action: ApiAction, timeoutMs: number, pollMs: number, what: string): Promise<void> {
    const done = await this.poll(
      async () => {
        const a =
          action.status === 'running' ? (await this.call<{action: ApiAction}>('GET', `/storage_boxes/actions/${action.id}`)).action : action
        action = a
        return a.status === 'running' ? undefined : a
      },
      timeoutMs,
      pollMs,
      what,
    )
    if (done.status === 'error')
      throw new StorageBoxApiError(
        `waiting for ${what}: the action failed (${done.error?.code ?? 'error'}: ${done.error?.message ?? ''})`,
        'Look at the box in the Hetzner console, then run `morpheus registry init` again.',
        'FAILED',
      )
  }
}

export interface NodeAccountOptions {
  endpoint: string
  token: string
  /** The registry's WebDAV user: the box's main user (u123456) or one of its sub-accounts (u123456-sub2). */
  username: string
  /** The registry's folder as that user sees it (no leading or trailing slash), e.g. `morpheus`. */
  folder: string
  /** The new (or reset) password of the node account. */
  password: string
  signal?: AbortSignal
  progress?: (message: string) => void
  timeoutMs?: number
  pollMs?: number
}

export interface NodeAccount {
  id: number
  username: string
  /** Host name nodes mount (//<server>/<username>). */
  server: string
  /** Its home directory on the box: the registry's folder. */
  home_directory: string
  /** true when a node account for that folder existed (its password was reset). */
  existed: boolean
}

interface ApiSubaccount {
  id: number
  username: string
  server: string
  home_directory: string
  access_settings: Record<string, boolean>
  labels: Record<string, string>
}

/** The box could not be used through the API: a message and what to do by hand instead. */
export class NoApiForBox extends Error {
  readonly noApi = true
}

/** What a node's account may do: read the registry's folder over SMB, nothing else. */
const NODE_ACCESS = {reachable_externally: false, readonly: true, samba_enabled: true, ssh_enabled: false, webdav_enabled: false}
const NODE_LABELS = {'managed-by': 'morpheus', 'morpheus-role': 'node-mount'}

const normaliseHome = (h: string) => h.replace(/^\/+|\/+$/g, '')

/**
 * The read-only sub-account cloud nodes mount the registry's folder with, so that no node ever
 * holds the registry's own read-write password. Found by its labels and home directory (a re-run
 * resets its password and makes sure it is still read-only), else created. Throws NoApiForBox
 * when the API does not know a box with the registry's user (another WebDAV server, or a box of
 * another project).
 */
export async function createNodeAccount(options: NodeAccountOptions): Promise<NodeAccount> {
  const api = new StorageBoxApi(options.endpoint, options.token, options.signal)
  const timeoutMs = options.timeoutMs ?? 600_000
  const pollMs = options.pollMs ?? 2000
  const say = options.progress ?? (() => undefined)
  const main = options.username.replace(/-sub\d+$/, '')
  const box = (await api.call<{storage_boxes: ApiBox[]}>('GET', '/storage_boxes')).storage_boxes.find((b) => b.username === main)
  if (!box) throw new NoApiForBox(`the Hetzner API token's project has no Storage Box with the user ${main}`)
  let home = normaliseHome(options.folder)
  if (main !== options.username) {
    // The registry itself is reached through a sub-account: its folder lies inside that one's home.
    const own = (
      await api.call<{subaccounts: ApiSubaccount[]}>(
        'GET',
        `/storage_boxes/${box.id}/subaccounts?username=${encodeURIComponent(options.username)}`,
      )
    ).subaccounts.find((s) => s.username === options.username)
    if (!own) throw new NoApiForBox(`Storage Box ${box.name} has no sub-account ${options.username}`)
    home = [normaliseHome(own.home_directory), home].filter(Boolean).join('/')
  }
  if (home === '')
    throw new NoApiForBox(
      'the registry is at the top of the box, so a node account would see all of it (move the registry into a folder, e.g. /morpheus/registry.json)',
    )
  const selector = Object.entries(NODE_LABELS)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
  const found = (
    await api.call<{subaccounts: ApiSubaccount[]}>(
      'GET',
      `/storage_boxes/${box.id}/subaccounts?label_selector=${encodeURIComponent(selector)}`,
    )
  ).subaccounts.find((s) => normaliseHome(s.home_directory) === home)
  let sub: ApiSubaccount
  if (found) {
    say(`Found the nodes' read-only account ${found.username} (home ${home}); setting a new password`)
    const reset = await api.call<{action: ApiAction}>(
      'POST',
      `/storage_boxes/${box.id}/subaccounts/${found.id}/actions/reset_subaccount_password`,
      {password: options.password},
    )
    await api.waitAction(reset.action, timeoutMs, pollMs, "the node account's new password to be set")
    const wrong = Object.entries(NODE_ACCESS).some(([k, v]) => found.access_settings?.[k] !== v)
    if (wrong) {
      const access = await api.call<{action: ApiAction}>(
        'POST',
        `/storage_boxes/${box.id}/subaccounts/${found.id}/actions/update_access_settings`,
        NODE_ACCESS,
      )
      await api.waitAction(access.action, timeoutMs, pollMs, 'the node account to be made read-only again')
    }
    sub = found
  } else {
    say(`Creating a read-only sub-account for the nodes (home ${home}, SMB only)`)
    const created = await api.call<{subaccount: {id: number}; action: ApiAction}>('POST', `/storage_boxes/${box.id}/subaccounts`, {
      access_settings: NODE_ACCESS,
      description: 'Morpheus nodes: read-only mount of the registry folder',
      home_directory: home,
      labels: NODE_LABELS,
      password: options.password,
    })
    await api.waitAction(created.action, timeoutMs, pollMs, 'the node account to be created')
    sub = (await api.call<{subaccount: ApiSubaccount}>('GET', `/storage_boxes/${box.id}/subaccounts/${created.subaccount.id}`)).subaccount
  }
  say(`The nodes mount ${home} as ${sub.username} (read-only)`)
  return {existed: Boolean(found), home_directory: home, id: sub.id, server: sub.server, username: sub.username}
}
