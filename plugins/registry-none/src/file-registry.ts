import {createHash} from 'node:crypto'
import {closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync} from 'node:fs'
import {hostname} from 'node:os'
import {dirname} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import type {PluginContext, RegistryBackend, StoredDocument, WriteCondition} from 'morpheus/plugin-api'

/** A lock from another host is taken as abandoned after this long (a write takes milliseconds). */
const STALE_FOREIGN_MS = 60_000

function revisionOf(body: string): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`
}

/** Is the process running? A zombie (exited, not yet reaped by its parent) is not. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..." where S is the state; comm may hold spaces or parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    // No /proc (not Linux) or the process just went away: trust the signal check.
    return !existsSync('/proc/self/stat')
  }
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

  constructor(readonly path: string, private readonly context: PluginContext, private readonly lockTimeoutMs: number) {
    this.location = path
    this.lockPath = `${path}.lock`
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
      if (code === 'ENOENT') return null
      throw this.context.error('UNREACHABLE', `cannot read ${this.path}: ${(error as Error).message}`)
    }
    return {body, revision: revisionOf(body)}
  }

  async write(body: string, condition: WriteCondition): Promise<{revision: string}> {
    mkdirSync(dirname(this.path), {mode: 0o700, recursive: true})
    await this.lock()
    try {
      const current = await this.read()
      if ('ifAbsent' in condition) {
        if (current !== null) throw this.context.error('CONFLICT', `${this.path} already exists`)
      } else if (current === null || current.revision !== condition.ifRevision) {
        throw this.context.error('CONFLICT', `${this.path} changed since it was read`)
      }
      const tmp = `${this.path}.${process.pid}.${Date.now()}.tmp`
      const fd = openSync(tmp, 'w', 0o600)
      try {
        writeSync(fd, body)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(tmp, this.path)
      try {
        const dirFd = openSync(dirname(this.path), 'r')
        fsyncSync(dirFd)
        closeSync(dirFd)
      } catch {
        // Some filesystems refuse fsync on a directory; the rename is still atomic.
      }
      return {revision: revisionOf(body)}
    } finally {
      this.unlock()
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
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw this.context.error('UNREACHABLE', `cannot create the lock ${this.lockPath}: ${(error as Error).message}`)
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
        throw this.context.error('LOCKED', `${this.lockPath} is held by another process`, `If no other morpheus is running, delete ${this.lockPath}.`)
      }
      await sleep(delay * (0.5 + Math.random()))
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
      if (holder.host === hostname() && typeof holder.pid === 'number') return alive(holder.pid) ? undefined : content
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

export function createFileRegistry(context: PluginContext): RegistryBackend {
  const path = context.resolvePath(String(context.config.path ?? 'registry.json'))
  return new FileRegistry(path, context, Number(context.config.lock_timeout_seconds ?? 10) * 1000)
}
