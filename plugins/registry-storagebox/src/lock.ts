import {hostname} from 'node:os'

import type {PluginContext} from 'morpheus/plugin-api'

import {Dav, LOCK_BODY} from './dav.js'

export interface HeldLock {
  path: string
  token: string
}

export interface LockOptions {
  /** How long to wait for another writer's lock before giving up (LOCKED). */
  waitMs: number
  /** The lock's lifetime on the server: a writer that dies holding it blocks others at most this long. */
  expirySeconds: number
  signal?: AbortSignal
  /** Called when the folder is missing (to create it), then the lock is tried again. */
  onMissingFolder?: () => Promise<void>
}

/** The answer to a LOCK was not what a server with working exclusive locks gives. */
export class LockUnsupported extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/**
 * Take an exclusive WebDAV write lock on `path`. The server grants it to one writer at a time
 * (423 to every other), ends it by itself after `expirySeconds` (so a writer that died never
 * blocks the others for longer: that is the safe break of a stale lock), and refuses a PUT that
 * does not present the token, so the lock is verified by the server on every write.
 */
export async function acquireLock(dav: Dav, context: PluginContext, path: string, options: LockOptions): Promise<HeldLock> {
  const deadline = Date.now() + options.waitMs
  const owner = `morpheus ${context.device} ${hostname()} pid ${process.pid} at ${new Date().toISOString()}`
  let createdFolder = false
  for (;;) {
    const r = await dav.request('LOCK', path, {
      body: LOCK_BODY(owner),
      expect: [207, 400, 404, 405, 409, 412, 423, 501],
      headers: {'content-type': 'application/xml; charset=utf-8', depth: '0', timeout: `Second-${options.expirySeconds}`},
      signal: options.signal,
    })
    if (r.status === 200 || r.status === 201) {
      const token = r.headers.get('lock-token')?.trim().replace(/^<|>$/g, '')
      if (!token) throw new LockUnsupported(r.status, `LOCK ${dav.href(path)} answered ${r.status} without a Lock-Token`)
      return {path, token}
    }
    if ((r.status === 404 || r.status === 409) && options.onMissingFolder && !createdFolder) {
      createdFolder = true
      await options.onMissingFolder()
      continue
    }
    // 207: Apache refuses a LOCK inside a locked folder with a multi-status naming the folder's lock.
    if (r.status !== 423 && r.status !== 207) throw new LockUnsupported(r.status, `LOCK ${dav.href(path)} answered ${r.status}`)
    // Every waiter polls at the same random pace, whether it just arrived or has waited long, so
    // none is starved by writers that come back quickly (there is no queue on the server).
    const delay = 50 + Math.random() * 150
    if (Date.now() + delay > deadline) {
      throw context.error(
        'LOCKED',
        `${dav.href(path)} stayed locked by another writer for ${Math.round(options.waitMs / 1000)} s`,
        `Another morpheus is writing the registry. If none is running, the server drops the lock by itself within ${options.expirySeconds} s; then run the command again.`,
      )
    }
    await context.helpers.sleep(delay, options.signal)
  }
}

/** Release a lock. Failure is harmless (the server ends it at its expiry), so it is only logged. */
export async function releaseLock(dav: Dav, context: PluginContext, lock: HeldLock): Promise<void> {
  try {
    await dav.request('UNLOCK', lock.path, {expect: [400, 404, 409, 412, 423], headers: {'lock-token': `<${lock.token}>`}})
  } catch (error) {
    context.log.debug(`UNLOCK ${dav.href(lock.path)}: ${(error as Error).message}`)
  }
}

/** The header that makes a request present the lock's token. */
export const ifToken = (lock: HeldLock) => ({if: `(<${lock.token}>)`})

/**
 * The header that presents a folder's lock token for a request on a name inside it (a tagged
 * list: the token belongs to the folder, not to the request's own URL). Needed to create a file in
 * a locked folder, on Apache and on nginx alike.
 */
export const ifFolderToken = (dav: Dav, lock: HeldLock) => ({if: `<${dav.href(lock.path)}> (<${lock.token}>)`})
