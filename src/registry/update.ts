import {setTimeout as sleep} from 'node:timers/promises'

import {MorpheusError, errorCode, fromPluginError} from '../errors.js'
import type {RegistryBackend, RegistryDocument} from '../plugin-api/index.js'
import {emptyDocument, parseDocument, serializeDocument} from './document.js'

export interface ReadResult {
  doc: RegistryDocument
  revision: string | null
}

export async function readRegistry(backend: RegistryBackend): Promise<ReadResult> {
  let stored
  try {
    stored = await backend.read()
  } catch (error) {
    throw fromPluginError(error, `registry ${backend.location}`, 'REGISTRY')
  }
  if (!stored) return {doc: emptyDocument(), revision: null}
  return {doc: parseDocument(stored.body, backend.location), revision: stored.revision}
}

/** Returned by a mutation that changed nothing: no write is made. */
export const UNCHANGED = Symbol('unchanged')

export interface UpdateOptions {
  attempts?: number
  baseDelayMs?: number
  maxDelayMs?: number
  /** Called before each retry (for progress messages). */
  onRetry?: (attempt: number, delayMs: number) => void
}

/**
 * The one read-modify-write loop: read the document and its revision, apply `mutate`
 * to a fresh copy, write it back only if the revision is unchanged, and on a conflict
 * start again after an exponential backoff with full jitter. `mutate` may run more
 * than once, so it must derive everything from the document it is given.
 */
export async function updateRegistry<T>(
  backend: RegistryBackend,
  mutate: (doc: RegistryDocument) => T | typeof UNCHANGED | Promise<T | typeof UNCHANGED>,
  options: UpdateOptions = {},
): Promise<{doc: RegistryDocument; result: T | undefined}> {
  const attempts = options.attempts ?? 10
  const base = options.baseDelayMs ?? 25
  const max = options.maxDelayMs ?? 2000
  for (let attempt = 1; ; attempt++) {
    const {doc, revision} = await readRegistry(backend)
    const result = await mutate(doc)
    if (result === UNCHANGED) return {doc, result: undefined}
    doc.updated_at = new Date().toISOString()
    try {
      await backend.write(serializeDocument(doc), revision === null ? {ifAbsent: true} : {ifRevision: revision})
      return {doc, result}
    } catch (error) {
      if (errorCode(error) !== 'CONFLICT') throw fromPluginError(error, `registry ${backend.location}`, 'REGISTRY')
      if (attempt >= attempts) {
        throw new MorpheusError('REGISTRY', `the registry at ${backend.location} kept changing under us: gave up after ${attempts} conflicting writes`, {
          hint: 'Another morpheus is writing the registry right now; try again in a moment.',
        })
      }
      const delay = Math.round(Math.random() * Math.min(max, base * 2 ** (attempt - 1)))
      options.onRetry?.(attempt, delay)
      await sleep(delay)
    }
  }
}
