import {connect, type NatsConnection} from '@nats-io/transport-node'

import {MorpheusError} from '../errors.js'
import type {ClusterAuth} from '../plugin-api/index.js'

/** How the forest engine opens a NATS connection to a forest (a seam: unit tests of the engine have no NATS). */
export type NatsConnector = (servers: readonly string[], options?: {auth?: ClusterAuth | null; name?: string}) => Promise<NatsConnection>

/** What the forest engine needs to reach a forest's JetStream (absent in engine unit tests, which have no NATS). */
export interface JetStreamAccess {
  connect: NatsConnector
  /** Where grow keeps node-1's stream snapshots while node-1 changes (0700; files 0600). */
  snapshotDir: string
}

/**
 * A connection to a forest's nodes over their client port (nats://host:4222): anonymous (the global
 * account, where the streams are) or as the forest's system-account user. It fails over between the
 * servers and reconnects for as long as the operation runs, so a node restarting (grow, shrink) does
 * not end it. The password is never part of an error message.
 */
export const connectForest: NatsConnector = async (servers, options = {}) => {
  try {
    return await connect({
      // Morpheus names the servers (a forest's nodes, or tunnels to them); the client URLs servers
      // advertise are their own 127.0.0.1 on a cloud, or another forest's, and must not be tried.
      ignoreClusterUpdates: true,
      maxReconnectAttempts: -1,
      name: options.name ?? 'morpheus',
      pass: options.auth?.password,
      reconnectTimeWait: 250,
      servers: [...servers],
      timeout: 5000,
      user: options.auth?.user,
      waitOnFirstConnect: false,
    })
  } catch (error) {
    const what = options.auth ? `as ${options.auth.user} (the forest's system account)` : 'as a client'
    const reason = (error as Error)?.message ?? String(error)
    const refused = /authoriz/i.test(reason)
    throw new MorpheusError(
      'PROVIDER',
      `could not connect to the forest's NATS ${what} at ${servers.join(', ')}: ${refused ? 'authorization refused' : reason}`,
      {
        cause: error,
        hint: refused
          ? "The nodes do not know the forest's system-account user from the registry's secret storage (was the forest planted with another registry?)."
          : "Morpheus reaches a forest's nodes on their client port (4222); the cloud firewall admits the operator's networks (providers.hetzner.operator_cidrs).",
      },
    )
  }
}
