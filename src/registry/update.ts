import type {RegistryBackend, RegistryDocument} from '../plugin-api/index.js'
import {openStore} from './open.js'
import {UNCHANGED, type Mutation} from './store.js'

export {UNCHANGED}

export interface ReadResult {
  doc: RegistryDocument
  revision: string | null
}

/** Read and validate the document once (an empty document, with no revision, when none exists). */
export async function readRegistry(backend: RegistryBackend): Promise<ReadResult> {
  const store = openStore(backend)
  const doc = await store.read()
  return {doc, revision: store.revision ?? null}
}

export interface UpdateOptions {
  attempts?: number
  baseDelayMs?: number
  maxDelayMs?: number
  /** Called before each retry after a conflict (for progress messages). */
  onRetry?: (attempt: number, delayMs: number) => void
  /** Write even when the backend's probe says it cannot make writes safe. */
  unsafe?: boolean
}

/**
 * One read-modify-write through a store of its own (see RegistryStore, the one loop): for
 * callers that make a single change. Commands that make several use one RegistryStore.
 */
export async function updateRegistry<T>(
  backend: RegistryBackend,
  mutate: Mutation<T>,
  options: UpdateOptions = {},
): Promise<{doc: RegistryDocument; result: T | undefined}> {
  const store = openStore(backend, {
    conflictAttempts: options.attempts,
    conflictBaseMs: options.baseDelayMs,
    conflictMaxMs: options.maxDelayMs,
    onConflict: options.onRetry,
    unsafe: options.unsafe,
  })
  return store.update(mutate, {now: true})
}
