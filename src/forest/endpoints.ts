import {urlHost} from '../net.js'
import type {ForestRecord, NatsPorts, NodeEndpoints, NodeRecord, Provider} from '../plugin-api/index.js'

/** The ports of a node: its own, else the forest's, else the configured defaults. */
export function nodePorts(node: NodeRecord, forest: Pick<ForestRecord, 'ports'> | undefined, defaults: NatsPorts): NatsPorts {
  return node.ports ?? forest?.ports ?? defaults
}

/** Where Morpheus reaches a node when the provider says nothing else: the probe address (or route address) and the node's ports. */
export function recordedEndpoints(node: NodeRecord, ports: NatsPorts): NodeEndpoints {
  const host = urlHost(node.probe_address || node.ip)
  return {client: `nats://${host}:${ports.client}`, monitor: `http://${host}:${ports.monitor}`}
}

/** The provider's endpoints when it defines them, else the recorded ones. */
export function endpointsOf(provider: Pick<Provider, 'endpoints'> | undefined, node: NodeRecord, ports: NatsPorts): NodeEndpoints {
  return provider?.endpoints ? provider.endpoints(node, ports) : recordedEndpoints(node, ports)
}
