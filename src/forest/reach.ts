import type {NatsConnection} from '@nats-io/transport-node'

import type {JetStreamAccess} from '../jetstream/connect.js'
import {pluginMessage} from '../plugins/guard.js'
import type {ClientTunnel, ClusterAuth, ForestRecord, NodeRecord} from '../plugin-api/index.js'
import type {ForestDeps, ProviderHandle} from './deps.js'
import {endpointsOf, nodePorts} from './endpoints.js'

/**
 * A NATS connection to some of a forest's nodes (the JetStream administration of grow, shrink and
 * upgrade). Where the provider has tunnels (Provider.clientTunnel: Hetzner's SSH), each node is
 * reached through its own, and the tunnels close when the connection does; otherwise the nodes'
 * client URLs are used as they are (local nodes). A node whose tunnel cannot be opened is left out
 * (the connection fails over between the others); when none opens, the first node's error is thrown.
 */
export async function connectNodes(
  deps: ForestDeps & {jetstream: JetStreamAccess},
  handle: ProviderHandle,
  forest: ForestRecord,
  nodes: readonly NodeRecord[],
  options: {auth?: ClusterAuth | null; name: string},
): Promise<NatsConnection> {
  const provider = handle.provider
  const targets = nodes.map((node) => ({node, ports: nodePorts(node, forest, deps.settings.ports)}))
  if (!provider.clientTunnel) {
    return deps.jetstream.connect(
      targets.map((t) => endpointsOf(provider, t.node, t.ports).client),
      options,
    )
  }
  const opened = await Promise.allSettled(targets.map((t) => provider.clientTunnel!(t.node, t.ports, deps.signal)))
  const tunnels: ClientTunnel[] = []
  opened.forEach((result, i) => {
    if (result.status === 'fulfilled') tunnels.push(result.value)
    else deps.log.debug(`${targets[i].node.id}: no tunnel to its client port: ${pluginMessage(result.reason)}`)
  })
  const closeAll = () => Promise.all(tunnels.map((t) => t.close().catch(() => undefined)))
  if (tunnels.length === 0) throw (opened.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason
  try {
    const nc = await deps.jetstream.connect(
      tunnels.map((t) => t.url),
      options,
    )
    void nc.closed().finally(() => closeAll())
    return nc
  } catch (error) {
    await closeAll()
    throw error
  }
}
