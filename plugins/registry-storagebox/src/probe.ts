import {randomBytes} from 'node:crypto'

import type {PluginContext, RegistryProbe} from 'morpheus/plugin-api'

import {Dav} from './dav.js'
import {acquireLock, ifFolderToken, ifToken, LockUnsupported, releaseLock} from './lock.js'

export interface ProbeFindings extends RegistryProbe {
  /** LOCK is exclusive and the server refuses a write without the token. */
  lock: boolean
  /** If-None-Match: * refused a second create. */
  ifNoneMatch: boolean
  /** If-Match with a stale ETag was refused and with the current one accepted, also under a race. */
  ifMatch: boolean
  /** ETag right after a write was weak. */
  weakEtagAfterWrite: boolean
  /** LOCK on a missing name leaves no visible (empty) document behind. */
  lockNullInvisible: boolean
  /** An exclusive lock on a folder refuses the creation of a file in it without the folder's token. */
  folderLock: boolean
}

/** A plain success; 207 is a refusal in disguise (Apache names the lock that refused a request in a multi-status). */
const ok = (s: number) => s >= 200 && s < 300 && s !== 207

/**
 * The scratch names are new, so nothing else locks them; only a writer creating a file in the
 * registry's folder may hold that folder's lock for a moment (nginx extends it to every name below).
 * The probe waits that out instead of taking it for a server without locks.
 */
const SCRATCH_WAIT_MS = 15_000

/** Write a scratch file that no lock of ours covers, waiting out a folder lock held by another writer (207 / 423). */
async function scratchPut(
  dav: Dav,
  context: PluginContext,
  path: string,
  request: {body: string; headers?: Record<string, string>; signal?: AbortSignal},
) {
  const deadline = Date.now() + SCRATCH_WAIT_MS
  for (;;) {
    const r = await dav.request('PUT', path, {...request, expect: [207, 412, 423]})
    if ((r.status !== 207 && r.status !== 423) || Date.now() > deadline) return r
    await context.helpers.sleep(50 + Math.random() * 150, request.signal)
  }
}

/**
 * Lock `path`, then try a second exclusive LOCK, a PUT without the token and a PUT with it. Enforced:
 * the second LOCK and the token-less PUT refused, the PUT with the token accepted. Vanished: the
 * second LOCK granted and our own token refused, i.e. our lock was lost, not shared.
 */
async function checkLock(
  dav: Dav,
  context: PluginContext,
  path: string,
  signal?: AbortSignal,
): Promise<{enforced: boolean; vanished: boolean; note: string}> {
  const io = {signal}
  const lock = await acquireLock(dav, context, path, {expirySeconds: 30, signal, waitMs: SCRATCH_WAIT_MS})
  try {
    const again = await dav.request('LOCK', path, {
      ...io,
      body: '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>',
      expect: [400, 405, 409, 412, 423, 501],
      headers: {'content-type': 'application/xml', depth: '0', timeout: 'Second-10'},
    })
    const without = await dav.request('PUT', path, {...io, body: '{"without":true}', expect: [400, 409, 412, 423]})
    const withToken = await dav.request('PUT', path, {...io, body: '{"with":true}', expect: [400, 409, 412, 423], headers: ifToken(lock)})
    if (again.status < 300) await releaseLock(dav, context, {path, token: again.headers.get('lock-token')?.replace(/^<|>$/g, '') ?? ''})
    const enforced = again.status === 423 && (without.status === 423 || without.status === 412) && ok(withToken.status)
    return {
      enforced,
      note: enforced
        ? 'WebDAV LOCK is exclusive and enforced: a second LOCK and a PUT without the token got 423'
        : `WebDAV LOCK not enforced (second LOCK ${again.status}, PUT without token ${without.status}, with token ${withToken.status})`,
      // Lost (Apache's lock database under load), or our own token refused because another writer
      // held the folder's lock for a create at that moment (nginx): inconclusive, look again.
      vanished:
        (ok(again.status) && withToken.status === 412) || (again.status === 423 && (withToken.status === 423 || withToken.status === 207)),
    }
  } finally {
    await releaseLock(dav, context, lock)
  }
}

/**
 * Find out what this WebDAV server really enforces, on scratch files beside the document
 * (removed afterwards): conditional creates, conditional updates (stale and current ETags, and a
 * race of simultaneous updates, of which exactly one may win) and exclusive locks that the server
 * checks on every write. Nothing is assumed from what the server advertises.
 */
export async function probeServer(dav: Dav, context: PluginContext, folder: string, signal?: AbortSignal): Promise<ProbeFindings> {
  const notes: string[] = []
  const scratch = `${folder}.morpheus-probe-${randomBytes(6).toString('hex')}`
  const a = `${scratch}.json`
  const b = `${scratch}-lock.json`
  const c = `${scratch}-null.json`
  const d = `${scratch}-dir/`
  const io = {signal}
  const findings: ProbeFindings = {
    concurrency: 'none',
    folderLock: false,
    ifMatch: false,
    ifNoneMatch: false,
    lock: false,
    lockNullInvisible: false,
    notes,
    weakEtagAfterWrite: false,
  }
  try {
    // Conditional create.
    const first = await scratchPut(dav, context, a, {...io, body: '{"probe":1}', headers: {'if-none-match': '*'}})
    const second = await scratchPut(dav, context, a, {...io, body: '{"probe":2}', headers: {'if-none-match': '*'}})
    findings.ifNoneMatch = ok(first.status) && second.status === 412
    notes.push(
      findings.ifNoneMatch
        ? 'If-None-Match: * enforced (a second create got 412)'
        : `If-None-Match: * ignored (a second create got ${second.status})`,
    )

    // ETags: on GET? weak right after a write? If-Match honoured?
    const got = await dav.request('GET', a, io)
    const etag = got.headers.get('etag')
    findings.weakEtagAfterWrite = Boolean(etag?.startsWith('W/'))
    if (!etag) notes.push('no ETag on GET')
    else if (findings.weakEtagAfterWrite) notes.push('ETag is weak right after a write (If-Match with it cannot succeed)')
    const stale = await scratchPut(dav, context, a, {...io, body: '{"probe":3}', headers: {'if-match': '"morpheus-probe-stale"'}})
    const staleRefused = stale.status === 412
    notes.push(staleRefused ? 'If-Match with a stale ETag refused (412)' : `If-Match ignored: a stale ETag got ${stale.status}`)

    // Exclusive lock checked on every write.
    try {
      const made = await scratchPut(dav, context, b, {...io, body: '{}'})
      if (!ok(made.status) || made.status === 207) throw dav.statusError('PUT', dav.href(b), made.status === 207 ? 423 : made.status)
      // Apache's lock database can lose a lock when many clients lock at once: then a second LOCK is
      // granted and our own token is refused (412), which is safe (every write carries its token) but
      // proves nothing either way, so that pattern is looked at again, up to three times.
      for (let attempt = 1; attempt <= 3; attempt++) {
        const seen = await checkLock(dav, context, b, signal)
        findings.lock = seen.enforced
        if (seen.enforced || !seen.vanished || attempt === 3) {
          notes.push(seen.note)
          break
        }
        await context.helpers.sleep(200 * attempt, signal)
      }
      if (findings.lock) {
        const nl = await acquireLock(dav, context, c, {expirySeconds: 30, signal, waitMs: SCRATCH_WAIT_MS})
        try {
          const seen = await dav.request('GET', c, {...io, expect: [404]})
          findings.lockNullInvisible = seen.status === 404
          if (!findings.lockNullInvisible)
            notes.push('LOCK on a missing name creates an empty file (documents are created with If-None-Match instead)')
        } finally {
          await releaseLock(dav, context, nl)
        }
        findings.folderLock = await checkFolderLock(dav, context, d, signal)
        notes.push(
          findings.folderLock
            ? "a lock on a folder is enforced: a file is created in it only with the folder's token"
            : 'a lock on a folder does not stop others creating files in it',
        )
      }
    } catch (error) {
      if (!(error instanceof LockUnsupported) && (error as {code?: string}).code !== 'LOCKED') throw error
      notes.push(`WebDAV LOCK unavailable (${(error as Error).message})`)
    }

    // Compare-and-swap through If-Match, only needed without a usable lock: prove it under a race.
    if (!lockUsable(findings) && staleRefused && etag) {
      findings.ifMatch = await raceIfMatch(dav, context, a, notes, signal)
    }
  } finally {
    for (const p of [a, b, c, d]) await dav.request('DELETE', p, {expect: [404, 409, 423]}).catch(() => undefined)
  }
  if (lockUsable(findings)) {
    findings.concurrency = 'lock'
  } else if (findings.ifMatch && findings.ifNoneMatch) {
    findings.concurrency = 'compare-and-swap'
  } else {
    const lacks = [
      findings.lock ? '' : 'an exclusive WebDAV LOCK that it enforces on writes',
      findings.lock && !lockUsable(findings) ? 'a safe way to create a file (If-None-Match: * or a lock on its folder)' : '',
      findings.ifMatch ? '' : 'an atomic If-Match (compare-and-swap)',
      findings.ifNoneMatch ? '' : 'If-None-Match: * on create',
    ].filter(Boolean)
    notes.push(`the server lacks ${lacks.join(' and ')}`)
  }
  return findings
}

/**
 * Updates are safe under an enforced LOCK; creates (a file never exists before its first write)
 * need If-None-Match or a lock on the folder too, since a LOCK on the missing name would itself
 * create the file on servers such as nginx.
 */
const lockUsable = (f: ProbeFindings) => f.lock && (f.folderLock || f.ifNoneMatch)

/**
 * Lock a scratch folder, then create one file in it without the folder's token and one with it:
 * enforced when the first is refused (423, or Apache's 207 naming the lock) and the second made.
 */
async function checkFolderLock(dav: Dav, context: PluginContext, folder: string, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + SCRATCH_WAIT_MS
  let made = await dav.request('MKCOL', folder, {expect: [405, 423], signal})
  while (made.status === 423 && Date.now() < deadline) {
    await context.helpers.sleep(50 + Math.random() * 150, signal)
    made = await dav.request('MKCOL', folder, {expect: [405, 423], signal})
  }
  if (made.status !== 201) return false
  let lock
  try {
    lock = await acquireLock(dav, context, folder, {expirySeconds: 30, signal, waitMs: SCRATCH_WAIT_MS})
  } catch (error) {
    if (error instanceof LockUnsupported) return false
    throw error
  }
  try {
    const refused = [207, 400, 403, 409, 412, 423]
    const without = await dav.request('PUT', `${folder}without.json`, {body: '{}', expect: refused, signal})
    const withToken = await dav.request('PUT', `${folder}with.json`, {
      body: '{}',
      expect: refused,
      headers: ifFolderToken(dav, lock),
      signal,
    })
    const plain = (s: number) => s === 200 || s === 201 || s === 204
    return !plain(without.status) && plain(withToken.status)
  } finally {
    await releaseLock(dav, context, lock)
  }
}

/**
 * Wait (at most ~3 s) for a strong ETag, then race 12 updates with it, five times: exactly one may win
 * each time. A race can disprove atomicity (Apache's If-Match is not atomic: 2 or 3 often win), never
 * prove it, which is why an enforced LOCK is preferred whenever the server has one.
 */
async function raceIfMatch(dav: Dav, context: PluginContext, path: string, notes: string[], signal?: AbortSignal): Promise<boolean> {
  for (let round = 0; round < 5; round++) {
    const etag = await strongEtag(dav, context, path, signal)
    if (!etag) {
      notes.push('no strong ETag within 3 s: If-Match cannot be used')
      return false
    }
    const same = await dav.request('PUT', path, {body: `{"round":${round}}`, expect: [412], headers: {'if-match': etag}, signal})
    if (!ok(same.status)) {
      notes.push(`If-Match with the current ETag refused (${same.status})`)
      return false
    }
    const now = await strongEtag(dav, context, path, signal)
    if (!now) return false
    const answers = await Promise.all(
      Array.from({length: 12}, (_, i) =>
        dav.request('PUT', path, {body: `{"racer":${i}${' '.repeat(i)}}`, expect: [412, 423], headers: {'if-match': now}, signal}),
      ),
    )
    const won = answers.filter((r) => ok(r.status)).length
    if (won !== 1) {
      notes.push(`If-Match is not atomic: ${won} of 12 simultaneous updates with the same ETag succeeded`)
      return false
    }
  }
  notes.push('If-Match honoured, and atomic in 5 races of 12 simultaneous updates')
  return true
}

export async function strongEtag(
  dav: Dav,
  context: PluginContext,
  path: string,
  signal?: AbortSignal,
  waitMs = 3000,
): Promise<string | undefined> {
  const deadline = Date.now() + waitMs
  for (;;) {
    const r = await dav.request('HEAD', path, {expect: [404], signal})
    const etag = r.headers.get('etag') ?? undefined
    if (r.status === 404 || !etag) return undefined
    if (!etag.startsWith('W/')) return etag
    if (Date.now() > deadline) return undefined
    await context.helpers.sleep(100, signal)
  }
}
