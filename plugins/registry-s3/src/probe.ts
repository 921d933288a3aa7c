import {randomUUID} from 'node:crypto'

import type {IoOptions, RegistryProbe} from 'morpheus/plugin-api'

import type {S3Ops} from './s3-ops.js'

type Outcome = {ok: true; etag: string} | {ok: false; code: string; message: string}

async function attempt(fn: () => Promise<{etag: string}>): Promise<Outcome> {
  try {
    return {etag: (await fn()).etag, ok: true}
  } catch (error) {
    const code = (error as {code?: string}).code
    // Anything but a refused condition or a missing feature (auth, network, abort) ends the probe.
    if (code === 'CONFLICT' || code === 'UNSUPPORTED') return {code, message: (error as Error).message, ok: false}
    throw error
  }
}

/**
 * Find out whether the endpoint enforces conditional writes, on a scratch object beside the
 * document (`<key>.probe/<uuid>`, removed afterwards):
 *
 * 1. create it with `If-None-Match: *` (must succeed: the key is new);
 * 2. create it again with `If-None-Match: *` (must be refused: 412 or 409);
 * 3. overwrite it with `If-Match: <current ETag>` (must succeed);
 * 4. overwrite it with `If-Match: <the ETag before step 3>` (must be refused).
 *
 * Only when all four behave is the answer compare-and-swap; otherwise 'none', with a note naming
 * what is missing (the core then refuses to write unless the user allows unsafe writes).
 */
export async function probeEndpoint(ops: S3Ops, documentKey: string, options?: IoOptions): Promise<RegistryProbe> {
  const key = `${documentKey}.probe/${randomUUID()}`
  const tag = randomUUID()
  const body = (step: number) => JSON.stringify({morpheus_probe: step, tag})
  const notes: string[] = []
  const missing: string[] = []
  let created = false
  try {
    const first = await attempt(() => ops.put(key, body(1), {ifAbsent: true}, options))
    if (!first.ok) {
      missing.push('conditional create (If-None-Match: *)')
      notes.push(
        first.code === 'CONFLICT'
          ? 'the server refused If-None-Match: * on a key that did not exist, so a first write can never succeed'
          : `the server does not implement If-None-Match on PUT (${first.message})`,
      )
      return verdict(notes, missing, await versioningNote(ops, options))
    }
    created = true
    let current = first.etag

    const second = await attempt(() => ops.put(key, body(2), {ifAbsent: true}, options))
    if (second.ok) {
      missing.push('conditional create (If-None-Match: *)')
      notes.push('the server ignores If-None-Match: * on PUT: a second create of the same key succeeded')
      current = second.etag
    } else if (second.code === 'CONFLICT') {
      notes.push('conditional create enforced: a second If-None-Match: * create was refused')
    } else {
      missing.push('conditional create (If-None-Match: *)')
      notes.push(`the server does not implement If-None-Match on PUT (${second.message})`)
    }

    const third = await attempt(() => ops.put(key, body(3), {ifEtag: current}, options))
    if (!third.ok) {
      missing.push('conditional update (If-Match)')
      notes.push(
        third.code === 'CONFLICT'
          ? "the server refused If-Match with the object's current ETag, so no update can succeed"
          : `the server does not implement If-Match on PUT (${third.message})`,
      )
      return verdict(notes, missing, await versioningNote(ops, options))
    }
    if (third.etag === current) notes.push('warning: the ETag did not change when the content did')

    const stale = await attempt(() => ops.put(key, body(4), {ifEtag: current}, options))
    if (stale.ok) {
      missing.push('conditional update (If-Match)')
      notes.push('the server ignores If-Match on PUT: a write with a stale ETag succeeded')
    } else if (stale.code === 'CONFLICT') {
      notes.push('conditional update enforced: a write with a stale If-Match ETag was refused')
    } else {
      missing.push('conditional update (If-Match)')
      notes.push(`the server does not implement If-Match on PUT (${stale.message})`)
    }
    return verdict(notes, missing, await versioningNote(ops, options))
  } finally {
    if (created) await removeScratch(ops, key, options)
  }
}

function verdict(notes: string[], missing: string[], versioning: string): RegistryProbe {
  if (missing.length === 0) return {concurrency: 'compare-and-swap', notes: [...notes, versioning]}
  const what = [...new Set(missing)].join(' and ')
  return {
    concurrency: 'none',
    notes: [
      `missing: ${what}; two devices writing at once could silently lose a change (AWS S3, Cloudflare R2 and MinIO enforce both)`,
      ...notes,
      versioning,
    ],
  }
}

async function versioningNote(ops: S3Ops, options?: IoOptions): Promise<string> {
  const status = await ops.versioning(options)
  if (status === 'Enabled') return 'bucket versioning is on: registry history and restore use object versions'
  if (status === 'Suspended') return 'bucket versioning is suspended: history shows the versions kept from before, not new writes'
  return 'bucket versioning is off (or not supported): history shows only the current document; turn versioning on to keep earlier revisions'
}

/** Remove the scratch object, every version of it on a versioned bucket. Best effort: a leftover is harmless. */
async function removeScratch(ops: S3Ops, key: string, options?: IoOptions): Promise<void> {
  try {
    // Deleting each version removes it for good; a plain delete on a versioned bucket would only add a delete marker.
    const versions = (await ops.versioning(options)) ? await ops.versions(key, 100, options) : []
    for (const v of versions) await ops.delete(key, {...options, versionId: v.versionId})
    if (versions.length === 0) await ops.delete(key, options)
  } catch {
    // Not allowed to delete versions, or the connection broke: the scratch object stays, unused.
  }
}
