// The JetStream API as the official client (nats.js v3) speaks it: JSON requests on $JS.API.* subjects.
// The JetStream manager of @nats-io/jetstream covers streams and consumers, but not what changing a
// cluster needs (stream peer-remove, meta server-remove, snapshot and restore), so those are plain
// requests here, with the server's error turned into a JetStreamError.
import type {NatsConnection} from '@nats-io/transport-node'

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

/** A JetStream API request: the answer's JSON, or a JetStreamError when it carries an error. */
export async function api<T = Record<string, unknown>>(
  nc: NatsConnection,
  subject: string,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<T> {
  const msg = await nc.request(subject, encode(body), {timeout: timeoutMs})
  const answer = JSON.parse(new TextDecoder().decode(msg.data) || '{}') as {error?: {code: number; err_code?: number; description: string}}
  if (answer.error) throw new JetStreamError(subject, answer.error.code, answer.error.err_code ?? 0, answer.error.description)
  return answer as T
}

export function isJetStreamError(error: unknown, errCode: number): boolean {
  return error instanceof JetStreamError && error.errCode === errCode
}
