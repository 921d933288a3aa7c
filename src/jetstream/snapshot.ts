// Stream snapshot and restore through the JetStream API (the protocol of nats-server 2.9's
// jetstream_api.go; nats.js has no wrapper for it):
//
// snapshot: subscribe to an inbox, ask $JS.API.STREAM.SNAPSHOT.<stream> {deliver_subject: inbox}; the
//   answer carries the stream's config and state, then the server sends the snapshot (an s2-compressed
//   tar of the stream's files and its consumers) to the inbox in chunks. Each chunk but possibly the
//   last has a reply subject to acknowledge it (flow control); an empty message ends it.
// restore: ask $JS.API.STREAM.RESTORE.<stream> {config, state}; the answer names a deliver subject.
//   Each chunk is a request to it (an empty reply acknowledges it, anything else is an error); an
//   empty request ends it and is answered with the restored stream's info (or an error).
import {createInbox, type Msg, type NatsConnection} from '@nats-io/transport-node'

import {api, API_PREFIX, JetStreamError} from './api.js'
import type {StreamConfig, StreamInfo, StreamState} from './streams.js'

export interface StreamSnapshot {
  config: StreamConfig
  state: StreamState
  data: Buffer
}

const CHUNK = 128 * 1024

/** A stream's snapshot with its consumers, checksums checked by the server first. */
export async function snapshotStream(nc: NatsConnection, stream: string, options: {idleMs?: number} = {}): Promise<StreamSnapshot> {
  const inbox = createInbox()
  const chunks: Buffer[] = []
  const idleMs = options.idleMs ?? 15_000
  let finish!: (error?: Error) => void
  const done = new Promise<void>((resolve, reject) => (finish = (e) => (e ? reject(e) : resolve())))
  let timer: NodeJS.Timeout | undefined
  const idle = () => {
    clearTimeout(timer)
    timer = setTimeout(() => finish(new Error(`the snapshot of ${stream} stopped arriving (nothing for ${idleMs / 1000}s)`)), idleMs)
  }
  const sub = nc.subscribe(inbox, {
    callback: (error: Error | null, msg: Msg) => {
      if (error) return finish(error)
      idle()
      const status = msg.headers?.code
      if (status && status >= 400) return finish(new Error(`the snapshot of ${stream} failed: ${msg.headers?.description ?? status}`))
      if (msg.data.length === 0) return finish()
      chunks.push(Buffer.from(msg.data))
      if (msg.reply) msg.respond()
    },
  })
  try {
    await nc.flush()
    const answer = await api<{config: StreamConfig; state: StreamState}>(nc, `${API_PREFIX}.STREAM.SNAPSHOT.${stream}`, {
      chunk_size: CHUNK,
      deliver_subject: inbox,
      jsck: true,
    })
    idle()
    await done
    return {config: answer.config, data: Buffer.concat(chunks), state: answer.state}
  } finally {
    clearTimeout(timer)
    sub.unsubscribe()
  }
}

/**
 * Restore a snapshot as a new stream (the name must be free). `config` replaces the snapshot's (e.g.
 * another replica count). Returns the restored stream's info.
 */
export async function restoreStream(
  nc: NatsConnection,
  snapshot: StreamSnapshot,
  options: {config?: StreamConfig; timeoutMs?: number} = {},
): Promise<StreamInfo> {
  const config = options.config ?? snapshot.config
  const timeoutMs = options.timeoutMs ?? 60_000
  const start = await api<{deliver_subject: string}>(
    nc,
    `${API_PREFIX}.STREAM.RESTORE.${config.name}`,
    {config, state: snapshot.state},
    timeoutMs,
  )
  const target = start.deliver_subject
  for (let at = 0; at < snapshot.data.length; at += CHUNK) {
    const reply = await nc.request(target, snapshot.data.subarray(at, at + CHUNK), {timeout: timeoutMs})
    if (reply.data.length > 0)
      throw new JetStreamError(target, 500, 0, `restoring ${config.name} failed: ${new TextDecoder().decode(reply.data)}`)
  }
  const end = await nc.request(target, new Uint8Array(0), {timeout: timeoutMs})
  const answer = JSON.parse(new TextDecoder().decode(end.data) || '{}') as StreamInfo & {
    error?: {code: number; err_code?: number; description: string}
  }
  if (answer.error)
    throw new JetStreamError(
      target,
      answer.error.code,
      answer.error.err_code ?? 0,
      `restoring ${config.name} failed: ${answer.error.description}`,
    )
  return answer
}
