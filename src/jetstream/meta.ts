// The JetStream meta group: removing a server for good ($JS.API.SERVER.REMOVE, which only the system
// account may ask; the meta leader answers).
import type {NatsConnection} from '@nats-io/transport-node'

import {api, API_PREFIX, ERR, isJetStreamError} from './api.js'

/**
 * Remove a server from the meta group (it must be offline, or it rejoins). `admin` is a connection of
 * the forest's system-account user. False when the server is not (or no longer) a member.
 */
export async function serverRemove(admin: NatsConnection, server: string, timeoutMs = 10_000): Promise<boolean> {
  try {
    const answer = await api<{success?: boolean}>(admin, `${API_PREFIX}.SERVER.REMOVE`, {peer: server}, timeoutMs)
    return answer.success === true
  } catch (error) {
    if (isJetStreamError(error, ERR.CLUSTER_SERVER_NOT_MEMBER)) return false
    throw error
  }
}
