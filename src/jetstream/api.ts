// The JetStream API as the official client (nats.js v3) speaks it: JSON requests on $JS.API.* subjects.
// The JetStream manager of @nats-io/jetstream covers streams and consumers, but not what changing a
// cluster needs (stream peer-remove, meta server-remove, snapshot and restore), so those are plain
// requests here, with the server's error turned into a JetStreamError.
import type {NatsConnection} from '@nats-io/transport-node'

import {MorpheusError} from '../errors.js'

export const API_PREFIX = '$JS.API'

/** An error the JetStream API answered with ({code, err_code, description}). */
export class JetStreamError extends Error {
  constructor(
    readonly subject: string,
    readonly code: number,
    readonly errCode: number,
    description: string,
  ) {
    super(description)
    this.name = 'JetStreamError'
  }
}

/** err_code values this module acts on (nats-server's errors.json). */
export const ERR = {
  CLUSTER_NOT_MEMBER: 10040, // stream peer-remove: the peer is not a member of the stream's group
  CLUSTER_SERVER_NOT_MEMBER: 10044, // server remove: the server is not a member of the meta group
  PEER_REMAP: 10075, // stream peer-remove: no peer to replace it (the peer was removed all the same)
  STREAM_NOT_FOUND: 10059,
} as const

export function encode(body: unknown): Uint8Array {
  return new TextEncoder().encode(body === undefined ? '' : JSON.stringify(body))
}

/**
 * Requests worth sending again when no answer came: a retry of each gives the same end state (an
 * update carries the whole config; a peer or server remove answered "not a member" is treated as
 * done by its caller). A delete or a create is not among them: its first try may have happened.
 */
function idempotent(subject: string): boolean {
  return !/\.(DELETE|CREATE|PURGE|MSG\.DELETE)\./.test(subject)
}

/** A request that got no answer in a way that passes: a timeout, no responders (a leader election), a reconnect. */
function transient(error: unknown, nc: NatsConnection): string | undefined {
  if (nc.isClosed()) return undefined
  const e = error as {name?: string; message?: string; cause?: {name?: string}}
  if (e?.name === 'TimeoutError') return 'no answer in time'
  if (e?.name === 'RequestError' && e.cause?.name === 'NoResponders') return 'no responders (no JetStream leader for a moment)'
  if (e?.name === 'RequestError' && /disconnected/.test(e.message ?? '')) return 'the connection was being re-established'
  return undefined
}

/** How often a request that got no answer is sent again (idempotent ones only), and the pause before each. */
export const RETRY_PAUSES_MS = [250, 1000, 2000]

/**
 * A JetStream API request: the answer's JSON, or a JetStreamError when it carries an error. A request
 * that got no answer (timeout, no responders, reconnecting: what a leader election or a slow SSH tunnel
 * gives for a moment) is sent again when that is safe; when it never gets one, a NOT_FORMED error names
 * the request and why, instead of the client's bare "timeout".
 */
export async function api<T = Record<string, unknown>>(
  nc: NatsConnection,
  subject: string,
  body?: unknown,
  timeoutMs = 10_000,
  pauses: readonly number[] = RETRY_PAUSES_MS,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    let msg
    try {
      msg = await nc.request(subject, encode(body), {timeout: timeoutMs})
    } catch (error) {
      const why = transient(error, nc)
      if (!why) throw error
      const again = idempotent(subject) && attempt < pauses.length
      if (!again) {
        throw new MorpheusError(
          'NOT_FORMED',
          `the JetStream API did not answer ${subject} (${why}${attempt > 0 ? `, ${attempt + 1} tries` : ''})`,
          {
            cause: error,
            hint: 'The forest may be electing a leader or overloaded: look at it with `morpheus status`, then run the command again (it goes on where it stopped).',
          },
        )
      }
      await new Promise((r) => setTimeout(r, pauses[attempt]))
      continue
    }
    const answer = JSON.parse(new TextDecoder().decode(msg.data) || '{}') as {
      error?: {code: number; err_code?: number; description: string}
    }
    if (answer.error) throw new JetStreamError(subject, answer.error.code, answer.error.err_code ?? 0, answer.error.description)
    return answer as T
  }
}

export function isJetStreamError(error: unknown, errCode: number): boolean {
  return error instanceof JetStreamError && error.errCode === errCode
}
