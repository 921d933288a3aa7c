import {createHash} from 'node:crypto'
import {closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync} from 'node:fs'
import {hostname} from 'node:os'
import {dirname} from 'node:path'

import type {PluginContext, RegistryBackend, SecretStore, StoredDocument, WriteCondition} from 'morpheus/plugin-api'

/** A lock from another host is taken as abandoned after this long (a write takes milliseconds). */
const STALE_FOREIGN_MS = 60_000

function revisionOf(body: string): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`
}

/**
 * The registry as a local file. Writes are compare-and-swap: under a cross-process
 * lock file (O_EXCL, holder's pid inside, broken only when that pid is gone or the
 * lock is older than the timeout) the current content's hash is compared with the
 * expected revision, and the new content replaces the file by an atomic rename.
 */
export class FileRegistry implements RegistryBackend {
  readonly location: string
  private readonly lockPath: string
  readonly secrets: SecretStore

  constructor(
    readonly path: string,
    private readonly context: PluginContext,
    private readonly lockTimeoutMs: number,
  ) {
    this.location = path
    this.lockPath = `${path}.lock`
    this.secrets = new FileSecrets(`${path.replace(/\.json$/, '')}.secrets.json`, this, context)
  }

  async probe() {
    return {concurrency: 'compare-and-swap' as const, notes: ['local file: lock file + content hash + atomic rename']}
  }

  async read(): Promise<StoredDocument | null> {
    let body: string
    try {
      body = readFileSync(this.path, 'utf8')
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      // No file, or a file where one of its directories should be: no document yet.
      if (code === 'ENOENT' || code === 'ENOTDIR') return null
      throw this.context.error('UNREACHABLE', `cannot read ${this.path}`, MOVE_HINT, {cause: error})
    }
    return {body, revision: revisionOf(body)}
  }

  async write(body: string, condition: WriteCondition): Promise<{revision: string}> {
    return this.locked(() => this.writeLocked(body, condition))
  }

  /** Run fn holding the registry's lock file (the document and its secrets share it). */
  async locked<T>(fn: () => T | Promise<T>): Promise<T> {
    try {
      mkdirSync(dirname(this.path), {mode: 0o700, recursive: true})
    } catch (error) {
      throw this.context.error('FAILED', `cannot create the directory ${dirname(this.path)} for the registry`, MOVE_HINT, {cause: error})
    }
    await this.lock()
    try {
      return await fn()
    } finally {
      this.unlock()
    }
  }

  private async writeLocked(body: string, condition: WriteCondition): Promise<{revision: string}> {
    {
      const current = await this.read()
      if ('ifAbsent' in condition) {
        if (current !== null) throw this.context.error('CONFLICT', `${this.path} already exists`)
      } else if (current === null || current.revision !== condition.ifRevision) {
        throw this.context.error('CONFLICT', `${this.path} changed since it was read`)
      }
      replaceFile(this.path, body, 'the registry', this.context)
      return {revision: revisionOf(body)}
    }
  }

  private async lock(): Promise<void> {
    const deadline = Date.now() + this.lockTimeoutMs
    const stamp = JSON.stringify({host: hostname(), pid: process.pid, time: new Date().toISOString()})
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      try {
        writeFileSync(this.lockPath, stamp, {flag: 'wx', mode: 0o600})
        return
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
          throw this.context.error('FAILED', `cannot create the lock file ${this.lockPath}`, MOVE_HINT, {cause: error})
      }
      const stale = this.staleLock()
      if (stale !== undefined) {
        // Remove it only if it is still the lock judged stale (not one another writer just took).
        try {
          if (readFileSync(this.lockPath, 'utf8') === stale) rmSync(this.lockPath, {force: true})
        } catch {
          // gone already
        }
        continue
      }
      if (Date.now() > deadline) {
        throw this.context.error(
          'LOCKED',
          `${this.lockPath} is held by another process`,
          `If no other morpheus is running, delete ${this.lockPath}.`,
        )
      }
      await this.context.helpers.sleep(delay * (0.5 + Math.random()))
    }
  }

  /**
   * The lock's content when it is stale: its holder on this host has exited, or (for a holder
   * on another host sharing the file system, whose pid cannot be checked) it is older than
   * STALE_FOREIGN_MS. A live holder on this host is never overridden.
   */
  private staleLock(): string | undefined {
    try {
      const content = readFileSync(this.lockPath, 'utf8')
      const holder = JSON.parse(content) as {host?: string; pid?: number}
      if (holder.host === hostname() && typeof holder.pid === 'number')
        return this.context.helpers.processAlive(holder.pid) ? undefined : content
      return Date.now() - statSync(this.lockPath).mtimeMs > Math.max(STALE_FOREIGN_MS, this.lockTimeoutMs) ? content : undefined
    } catch {
      // Being written right now, or just removed: not stale.
      return undefined
    }
  }

  private unlock(): void {
    rmSync(this.lockPath, {force: true})
  }
}

const MOVE_HINT = 'Or keep the registry elsewhere: `morpheus config set registry.path <file in a writable directory>`.'

/**
 * Replace `path` with body: a fresh temporary file beside it (mode 0600, fsynced), renamed over it.
 * A failure removes the temporary file and names `what` (the file-system error is the cause).
 */
function replaceFile(path: string, body: string, what: string, context: PluginContext): void {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`
  try {
    const fd = openSync(tmp, 'w', 0o600)
    try {
      writeSync(fd, body)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
  } catch (error) {
    rmSync(tmp, {force: true})
    throw context.error('FAILED', `cannot write ${what} ${path}`, MOVE_HINT, {cause: error})
  }
  syncDir(path)
}

function syncDir(path: string): void {
  try {
    const dirFd = openSync(dirname(path), 'r')
    fsyncSync(dirFd)
    closeSync(dirFd)
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}

/**
 * Per-forest secrets (route credentials) in a file of their own beside the document, mode 0600,
 * never in the document; changed under the registry's lock and replaced by an atomic rename.
 */
class FileSecrets implements SecretStore {
  constructor(
    private readonly path: string,
    private readonly registry: FileRegistry,
    private readonly context: PluginContext,
  ) {}

  private readAll(): Record<string, Record<string, string>> {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8'))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
      const reason = (error as NodeJS.ErrnoException).code ? '' : `: ${(error as Error).message}`
      throw this.context.error('FAILED', `cannot read the registry's secrets file ${this.path}${reason}`, undefined, {cause: error})
    }
  }

  private writeAll(all: Record<string, Record<string, string>>): void {
    replaceFile(this.path, JSON.stringify(all, null, 2) + '\n', "the registry's secrets file", this.context)
  }

  async get(forestId: string, name: string): Promise<string | undefined> {
    return this.readAll()[forestId]?.[name]
  }

  async set(forestId: string, name: string, value: string): Promise<void> {
    await this.registry.locked(() => {
      const all = this.readAll()
      all[forestId] = {...all[forestId], [name]: value}
      this.writeAll(all)
    })
  }

  async delete(forestId: string): Promise<void> {
    await this.registry.locked(() => {
      const all = this.readAll()
      if (!(forestId in all)) return
      delete all[forestId]
      this.writeAll(all)
    })
  }
}

export function createFileRegistry(context: PluginContext): RegistryBackend {
  const path = context.resolvePath(String(context.config.path ?? 'registry.json'))
  return new FileRegistry(path, context, Number(context.config.lock_timeout_seconds ?? 10) * 1000)
}
