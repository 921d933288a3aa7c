import {createHash} from 'node:crypto'

import type {
  IoOptions,
  NodeAccess,
  PluginContext,
  RegistryBackend,
  RegistryProbe,
  RevisionInfo,
  SecretStore,
  StoredDocument,
  WriteCondition,
} from 'morpheus/plugin-api'

import {Dav} from './dav.js'
import {acquireLock, ifFolderToken, ifToken, LockUnsupported, releaseLock, type HeldLock} from './lock.js'
import {davPaths, folderChain, type DavPaths} from './paths.js'
import {probeServer, strongEtag, type ProbeFindings} from './probe.js'
import {DavSecretStore} from './secrets.js'
import {accountInConfig, storageBoxNodeAccess} from './node-access.js'
import {NODE_MOUNT_SECRET, REGISTRY_SECRETS, parseNodeMount, type NodeMountSecret} from './node-account.js'

export const revisionOf = (body: string) => `sha256:${createHash('sha256').update(body).digest('hex')}`

/** How long a lock is kept after a lost race, for the caller's retry (longer than the core's first back-offs). */
const HOLD_MS = 1500

const REVISION_NAME = /^\d{8}T\d{9}Z-[0-9a-f]{12}$/

export interface StorageBoxSettings {
  url: string
  username: string
  password: string
  timeoutMs: number
  lockWaitMs: number
  lockExpirySeconds: number
  historyRevisions: number
}

/**
 * The registry document on a WebDAV server (a Hetzner Storage Box, or any other).
 *
 * Writes are made safe by what the server was *seen* to enforce: by default an exclusive WebDAV
 * LOCK on the document (the server refuses every other writer with 423 and every PUT without the
 * token), under which the current content's hash is compared with the expected revision. No
 * If-Match is needed, so Apache's weak ETags right after a write never stall a writer. When a
 * LOCK behaves unexpectedly the server is probed again: a proven atomic If-Match is used instead,
 * and without either the write is refused with what the server lacks. Before the document is
 * replaced, the previous content is kept in <doc>.history/ (the last N), so it stays restorable.
 */
export class StorageBoxRegistry implements RegistryBackend {
  readonly location: string
  readonly secrets: SecretStore
  private readonly dav: Dav
  private readonly paths: DavPaths
  private mode: 'lock' | 'compare-and-swap' | 'none' | undefined
  private findings?: ProbeFindings
  /** ETag seen with each revision read (for the If-Match path). */
  private readonly etags = new Map<string, string>()
  private writes = 0

  constructor(
    private readonly settings: StorageBoxSettings,
    private readonly context: PluginContext,
  ) {
    this.paths = davPaths(settings.url, context)
    this.location = this.paths.url.href
    this.dav = new Dav(
      {password: settings.password, timeoutMs: settings.timeoutMs, url: this.paths.url, username: settings.username},
      context,
    )
    this.secrets = new DavSecretStore(this.dav, context, this.paths.secrets, {
      create: (p, body, signal) => this.createFile(p, body, signal),
      lock: (p, signal) => this.lock(p, signal),
    })
  }

  /**
   * What a cloud node needs to read the registry: a read-only CIFS mount of its folder as the nodes'
   * own account (src/node-access.ts), from the config's registry.node_username / node_password or
   * the one `registry init` kept in the secret storage. The `webdav` alias names any WebDAV server,
   * which nodes cannot mount: they get the registry file instead (null).
   */
  async nodeAccess(): Promise<NodeAccess | null> {
    const config = this.context.config
    if (config.type !== undefined && config.type !== 'storagebox') return null
    let stored: NodeMountSecret | null = null
    if (!accountInConfig(config)) {
      try {
        const text = await this.secrets.get(REGISTRY_SECRETS, NODE_MOUNT_SECRET)
        stored = text ? parseNodeMount(text) : null
      } catch (error) {
        const e = error as {message?: string; hint?: string; transient?: boolean}
        throw this.context.error(
          'FAILED',
          `the nodes' read-only account could not be read from the registry's secret storage: ${e.message ?? String(error)}`,
          e.hint ?? 'Run the command again; if it persists, set registry.node_username and registry.node_password.',
          {cause: error, transient: e.transient},
        )
      }
    }
    return storageBoxNodeAccess(config, stored, this.context.error)
  }

  /** Probe the server (creating the folder if missing) and remember how to write. */
  async probe(options: IoOptions = {}): Promise<RegistryProbe> {
    await this.ensureFolder(this.paths.folder, options.signal)
    this.findings = await probeServer(this.dav, this.context, this.paths.folder, options.signal)
    this.mode = this.findings.concurrency
    return {concurrency: this.findings.concurrency, notes: this.findings.notes}
  }

  /**
   * The document as stored. Apache's GET can race a concurrent PUT (it sizes the old file and then
   * sends the new one, cut to the old size), so a body that is not JSON is read again a few times:
   * a torn read heals at once, a document that is really corrupt stays so and is returned for the
   * core to refuse. A response cut off in transit is an error, never a body.
   */
  async read(options: IoOptions = {}): Promise<StoredDocument | null> {
    if (this.held) return {body: this.held.body, revision: this.held.revision}
    let r = await this.dav.request('GET', this.paths.doc, {expect: [404], signal: options.signal})
    for (let attempt = 1; r.status !== 404 && !isJson(r.body) && attempt <= 3; attempt++) {
      this.context.log.debug(`${this.location}: the body read is not JSON; reading again (a read can race a write)`)
      await this.context.helpers.sleep(20 * attempt, options.signal)
      r = await this.dav.request('GET', this.paths.doc, {expect: [404], signal: options.signal})
    }
    if (r.status === 404) {
      await this.requireFolder(options.signal)
      return null
    }
    const revision = revisionOf(r.body)
    const etag = r.headers.get('etag')
    if (this.etags.size > 16) this.etags.clear()
    if (etag) this.etags.set(revision, etag)
    return {body: r.body, revision}
  }

  async write(body: string, condition: WriteCondition, options: IoOptions = {}): Promise<{revision: string}> {
    if (this.mode === undefined || this.mode === 'lock') {
      try {
        return await this.lockedWrite(body, condition, options.signal)
      } catch (error) {
        if (!(error instanceof LockUnsupported)) throw error
        this.context.log.warn(`${error.message}: probing ${this.location} again to see how it keeps writes safe`)
        await this.probe(options)
      }
    }
    if (this.mode === 'lock') return this.lockedWrite(body, condition, options.signal)
    if (this.mode === 'compare-and-swap') return this.casWrite(body, condition, options.signal)
    throw this.context.error(
      'UNSUPPORTED',
      `the WebDAV server at ${this.location} cannot keep concurrent writes safe: ${this.findings?.notes.at(-1) ?? 'no verifiable lock and no compare-and-swap'}`,
      'Use a server that enforces WebDAV LOCK or If-Match (a Hetzner Storage Box, Apache mod_dav), or another registry backend; Morpheus will not write last-writer-wins.',
    )
  }

  private async lockedWrite(body: string, condition: WriteCondition, signal?: AbortSignal): Promise<{revision: string}> {
    const expected = 'ifRevision' in condition ? condition.ifRevision : undefined
    const held = this.takeHeld()
    if (held) {
      // The lock kept after a conflict: the document cannot have changed since read() served it.
      if (held.revision !== expected) {
        await releaseLock(this.dav, this.context, held.lock)
        throw this.context.error('CONFLICT', `${this.location} changed since it was read`)
      }
      return this.putUnderLock(held.lock, body, held.body, signal)
    }
    // A document is never created by locking its name: on nginx (and by RFC 4918) a LOCK on a
    // missing name creates an empty file, which every reader would take for a corrupt document.
    if ('ifAbsent' in condition) return this.createDocument(body, signal)
    const lock = await this.lock(this.paths.doc, signal)
    let current: {status: number; body: string}
    try {
      current = await this.dav.request('GET', this.paths.doc, {expect: [404], signal})
      if (current.status !== 404 && current.body === '') {
        // The document was removed since it was read, and our LOCK made an empty file in its
        // place: remove that (under our lock) rather than leave it behind.
        await this.dav.request('DELETE', this.paths.doc, {expect: [404, 409, 412, 423], headers: ifToken(lock), signal})
        current = {body: '', status: 404}
      }
    } catch (error) {
      await releaseLock(this.dav, this.context, lock)
      throw error
    }
    const exists = current.status !== 404
    const currentRevision = exists ? revisionOf(current.body) : null
    if (currentRevision !== (expected ?? null)) {
      if (!exists) {
        await releaseLock(this.dav, this.context, lock)
        throw this.context.error('CONFLICT', `${this.location} was removed since it was read`)
      }
      // Lost the race. Keep the lock for a moment and serve the next read() from what we just
      // read under it: the caller's retry then cannot lose again (optimistic first, pessimistic
      // after a conflict), instead of every stale writer going round the whole loop once more.
      this.hold(lock, current.body, currentRevision!)
      throw this.context.error('CONFLICT', `${this.location} changed since it was read`)
    }
    return this.putUnderLock(lock, body, current.body, signal)
  }

  /** Create the document if it does not exist; a CONFLICT if it does. */
  private async createDocument(body: string, signal?: AbortSignal): Promise<{revision: string}> {
    // If-None-Match alone is enough where this process saw the server enforce it.
    if (this.findings?.ifNoneMatch) return this.createWithIfNoneMatch(body, signal)
    if (!(await this.createFile(this.paths.doc, body, signal))) throw this.context.error('CONFLICT', `${this.location} already exists`)
    return {revision: revisionOf(body)}
  }

  /**
   * Create `path` (in the registry's folder) with `body` unless it exists; false if it did. Never
   * by a LOCK on the missing name (that creates an empty file on nginx): under an exclusive lock on
   * the *folder*, which both Apache and nginx make every create of a name in it present, the name
   * is looked up and then PUT with the folder's token and `If-None-Match: *`. Servers that ignore
   * If-None-Match (nginx) are kept safe by the folder lock, those that ignore a folder lock for
   * creates by If-None-Match; the probe refuses a server that enforces neither.
   */
  async createFile(path: string, body: string, signal?: AbortSignal): Promise<boolean> {
    await this.ensureFolder(this.paths.folder, signal)
    const lock = await this.lock(this.paths.folder, signal)
    try {
      const seen = await this.dav.request('HEAD', path, {expect: [404], signal})
      if (seen.status !== 404) return false
      const put = await this.dav.request('PUT', path, {
        body,
        expect: [207, 412, 423],
        headers: {'content-type': 'application/json', 'if-none-match': '*', ...ifFolderToken(this.dav, lock)},
        signal,
      })
      if (put.status === 412) return false
      if (put.status === 207 || put.status === 423) {
        throw this.context.error(
          'CONFLICT',
          `${this.dav.href(path)}: the folder's lock ended before the file was created (${put.status}); nothing was written`,
        )
      }
      return true
    } finally {
      await releaseLock(this.dav, this.context, lock)
    }
  }

  /** Replace the document while holding `lock`: keep the previous body (if not kept already), PUT with the token, release. */
  private async putUnderLock(lock: HeldLock, body: string, previous: string | null, signal?: AbortSignal): Promise<{revision: string}> {
    try {
      if (previous !== null) await this.keep(previous, signal)
      const put = await this.dav.request('PUT', this.paths.doc, {
        body,
        expect: [207, 412, 423],
        headers: {'content-type': 'application/json', ...ifToken(lock)},
        signal,
      })
      if (put.status === 207 || put.status === 412 || put.status === 423) {
        // Our lock ended before the write (it expired): nothing was written; read again and retry.
        throw this.context.error('CONFLICT', `${this.location}: the lock expired before the write (${put.status}); nothing was written`)
      }
    } finally {
      await releaseLock(this.dav, this.context, lock)
    }
    this.afterWrite()
    return {revision: revisionOf(body)}
  }

  private held?: {lock: HeldLock; body: string; revision: string; timer: NodeJS.Timeout}
  private exitHook?: () => void

  /** Keep `lock` for at most HOLD_MS; read() serves `body` meanwhile. Released if no write comes, and before the process exits. */
  private hold(lock: HeldLock, body: string, revision: string): void {
    const timer = setTimeout(() => {
      if (this.held?.lock === lock) this.releaseHeld()
    }, HOLD_MS)
    timer.unref()
    this.held = {body, lock, revision, timer}
    if (!this.exitHook) {
      this.exitHook = () => this.releaseHeld()
      process.on('beforeExit', this.exitHook)
    }
  }

  private takeHeld(): StorageBoxRegistry['held'] {
    const held = this.held
    if (held) clearTimeout(held.timer)
    this.held = undefined
    return held
  }

  private releaseHeld(): void {
    const held = this.takeHeld()
    if (held) void releaseLock(this.dav, this.context, held.lock)
  }

  private async createWithIfNoneMatch(body: string, signal?: AbortSignal): Promise<{revision: string}> {
    await this.ensureFolder(this.paths.folder, signal)
    const put = await this.dav.request('PUT', this.paths.doc, {
      body,
      expect: [207, 412, 423],
      headers: {'content-type': 'application/json', 'if-none-match': '*'},
      signal,
    })
    // 207 / 423: another writer holds the folder's lock to create a file in it; read again and retry.
    if (put.status === 207 || put.status === 423)
      throw this.context.error('CONFLICT', `${this.location} is being created by another writer`)
    if (put.status === 412) throw this.context.error('CONFLICT', `${this.location} already exists`)
    return {revision: revisionOf(body)}
  }

  /** If-Match with the ETag read along with the revision; a weak one is waited out (same opaque value, now strong). */
  private async casWrite(body: string, condition: WriteCondition, signal?: AbortSignal): Promise<{revision: string}> {
    if ('ifAbsent' in condition) return this.createWithIfNoneMatch(body, signal)
    let etag = this.etags.get(condition.ifRevision)
    if (!etag) throw this.context.error('CONFLICT', `${this.location}: revision not read by this process`)
    if (etag.startsWith('W/')) {
      const strong = await strongEtag(this.dav, this.context, this.paths.doc, signal)
      if (!strong || strong !== etag.slice(2)) throw this.context.error('CONFLICT', `${this.location} changed since it was read`)
      etag = strong
    }
    const current = await this.dav.request('GET', this.paths.doc, {expect: [404], signal})
    if (current.status === 404 || revisionOf(current.body) !== condition.ifRevision)
      throw this.context.error('CONFLICT', `${this.location} changed since it was read`)
    await this.keep(current.body, signal)
    const put = await this.dav.request('PUT', this.paths.doc, {
      body,
      expect: [412],
      headers: {'content-type': 'application/json', 'if-match': etag},
      signal,
    })
    if (put.status === 412) throw this.context.error('CONFLICT', `${this.location} changed since it was read`)
    this.afterWrite()
    return {revision: revisionOf(body)}
  }

  lock(path: string, signal?: AbortSignal): Promise<HeldLock> {
    return acquireLock(this.dav, this.context, path, {
      expirySeconds: this.settings.lockExpirySeconds,
      onMissingFolder: () => this.ensureFolder(this.paths.folder, signal),
      signal,
      waitMs: this.settings.lockWaitMs,
    })
  }

  /** Keep a copy of the content about to be replaced, as <history>/<time>-<hash>.json. */
  private async keep(body: string, signal?: AbortSignal): Promise<void> {
    if (this.settings.historyRevisions <= 0) return
    const name = `${revisionStamp(body)}-${revisionOf(body).slice(7, 19)}`
    const path = `${this.paths.history}${name}.json`
    const deadline = Date.now() + this.settings.lockWaitMs
    const put = async (missingFolder: readonly number[]) => {
      for (;;) {
        // 207 / 423: a writer creating a file holds the folder's lock for a moment (nginx extends
        // it to everything below the folder); wait for it like for any other lock.
        const r = await this.dav.request('PUT', path, {
          body,
          expect: [207, 404, 409, 412, 423, ...missingFolder],
          headers: {'content-type': 'application/json', 'if-none-match': '*'},
          signal,
        })
        if ((r.status !== 207 && r.status !== 423) || Date.now() > deadline) return r
        await this.context.helpers.sleep(50 + Math.random() * 150, signal)
      }
    }
    // A missing folder: 409 (RFC 4918), 404, or 500 (nginx, whose rename into it fails).
    let r = await put([500])
    if (r.status === 404 || r.status === 409 || r.status === 500) {
      await this.ensureFolder(this.paths.history, signal)
      r = await put([])
    }
    if (r.status === 404 || r.status === 409 || r.status === 207 || r.status === 423)
      throw this.dav.statusError('PUT', this.dav.href(path), r.status === 207 ? 423 : r.status)
  }

  private afterWrite(): void {
    this.writes += 1
    // Prune now and then (one write in ten, whichever process makes it), outside the lock; a
    // concurrent pruner deleting the same file is harmless. At most about N + 10 are kept at once.
    if (this.settings.historyRevisions > 0 && Math.random() < 0.1) {
      this.prune().catch((error) => this.context.log.debug(`pruning ${this.paths.history}: ${(error as Error).message}`))
    }
  }

  async prune(signal?: AbortSignal): Promise<void> {
    const names = await this.historyNames(signal)
    for (const name of names.slice(this.settings.historyRevisions)) {
      await this.dav.request('DELETE', `${this.paths.history}${name.name}.json`, {expect: [404, 423], signal})
    }
  }

  private async historyNames(signal?: AbortSignal): Promise<Array<{name: string; modified: string; size?: number}>> {
    const r = await this.dav.request('PROPFIND', this.paths.history, {
      body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getlastmodified/><D:getcontentlength/></D:prop></D:propfind>',
      expect: [404],
      headers: {'content-type': 'application/xml', depth: '1'},
      signal,
    })
    if (r.status === 404) return []
    const out: Array<{name: string; modified: string; size?: number}> = []
    for (const block of r.body.split(/<(?:[A-Za-z0-9]+:)?response[\s>]/).slice(1)) {
      const href = /<(?:[A-Za-z0-9]+:)?href>([^<]*)</.exec(block)?.[1]
      const name = href
        ? decodeURIComponent(href)
            .replace(/\/$/, '')
            .split('/')
            .pop()!
            .replace(/\.json$/, '')
        : ''
      if (!REVISION_NAME.test(name)) continue
      const modified = /getlastmodified[^>]*>([^<]*)</.exec(block)?.[1]
      const size = /getcontentlength[^>]*>([^<]*)</.exec(block)?.[1]
      out.push({modified: modified ? new Date(modified).toISOString() : '', name, size: size ? Number(size) : undefined})
    }
    return out.sort((x, y) => y.name.localeCompare(x.name))
  }

  async history(limit: number, options: IoOptions = {}): Promise<RevisionInfo[]> {
    const names = await this.historyNames(options.signal)
    return names
      .slice(0, limit)
      .map((n) => ({modified: isoFromName(n.name) || n.modified, revision: n.name, ...(n.size === undefined ? {} : {size: n.size})}))
  }

  async readRevision(revision: string, options: IoOptions = {}): Promise<StoredDocument | null> {
    if (!REVISION_NAME.test(revision)) return null
    const r = await this.dav.request('GET', `${this.paths.history}${revision}.json`, {expect: [404], signal: options.signal})
    return r.status === 404 ? null : {body: r.body, revision}
  }

  /** Create every missing folder down to `folder` (MKCOL). */
  async ensureFolder(folder: string, signal?: AbortSignal): Promise<void> {
    for (const path of folderChain(folder)) {
      // 405: it exists; 423: it exists and another writer holds its lock (nginx).
      const r = await this.dav.request('MKCOL', path, {expect: [405, 409, 301, 423], signal})
      if (r.status === 409)
        throw this.context.error(
          'NOT_FOUND',
          `cannot create the folder ${this.dav.href(path)} (409 Conflict)`,
          'Create it by hand or fix registry.url.',
        )
    }
  }

  /** A missing document is fine (nothing planted yet); a missing folder is a wrong URL or an uninitialised box. */
  private async requireFolder(signal?: AbortSignal): Promise<void> {
    if (this.paths.folder === '/') return
    const r = await this.dav.request('PROPFIND', this.paths.folder, {expect: [404, 409], headers: {depth: '0'}, signal})
    if (r.status === 404 || r.status === 409) {
      throw this.context.error(
        'NOT_FOUND',
        `the folder ${this.dav.href(this.paths.folder)} does not exist (registry ${this.location})`,
        'Run `morpheus registry init --yes` to create it and the document, or fix registry.url.',
      )
    }
  }
}

/** When a revision was made: its own updated_at (registry documents carry one), else now; as 20261124T031820102Z. */
function revisionStamp(body: string): string {
  let at = Number.NaN
  try {
    const value = (JSON.parse(body) as {updated_at?: unknown}).updated_at
    if (typeof value === 'string') at = Date.parse(value)
  } catch {
    // not JSON: now
  }
  return new Date(Number.isNaN(at) ? Date.now() : at).toISOString().replace(/[-:]/g, '').replace('.', '')
}

function isJson(body: string): boolean {
  try {
    JSON.parse(body)
    return true
  } catch {
    return false
  }
}

function isoFromName(name: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(name)
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z` : ''
}

export function createStorageBoxRegistry(context: PluginContext): RegistryBackend {
  const c = context.config
  const url = typeof c.url === 'string' ? c.url : ''
  if (!url)
    throw context.error(
      'PREREQUISITE',
      "registry.url is not set (the registry document's WebDAV URL)",
      'Run `morpheus registry init`, or set it: morpheus config set registry.url https://u123456.your-storagebox.de/morpheus/registry.json',
    )
  const username = typeof c.username === 'string' ? c.username : ''
  if (!username)
    throw context.error('PREREQUISITE', 'registry.username is not set', 'Set it: morpheus config set registry.username u123456')
  const password = typeof c.password === 'string' ? c.password : ''
  if (!password)
    throw context.error(
      'PREREQUISITE',
      'registry.password is not set',
      "Set it, best as a reference to the environment: morpheus config set registry.password '${STORAGEBOX_PASSWORD}'",
    )
  return new StorageBoxRegistry(
    {
      historyRevisions: Number(c.history_revisions ?? 20),
      lockExpirySeconds: Number(c.lock_expiry_seconds ?? 20),
      lockWaitMs: Number(c.lock_timeout_seconds ?? 60) * 1000,
      password,
      timeoutMs: Number(c.timeout_seconds ?? 30) * 1000,
      url,
      username,
    },
    context,
  )
}
