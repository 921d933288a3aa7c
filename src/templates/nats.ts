import {urlHost} from '../net.js'
import type {NatsConfigInput, NatsPorts} from '../plugin-api/index.js'

function routeUrl(ip: string, port: number, auth?: {user: string; password: string} | null): string {
  const host = urlHost(ip)
  const cred = auth ? `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.password)}@` : ''
  return `nats-route://${cred}${host}:${port}`
}

/** Route TLS files on the node (mutual TLS: the same certificate as server and as client). */
export interface RouteTlsFiles {
  ca_file: string
  cert_file: string
  key_file: string
}

/**
 * The data nats.conf.hbs is rendered with: routes to every other node whose address is known
 * (a peer is another node by id, so nodes sharing one address on different ports all count),
 * each on its own cluster port, and the node's own address advertised.
 */
export function natsConfigData(input: NatsConfigInput, extra: {tls?: RouteTlsFiles | null} = {}): Record<string, unknown> {
  const peers = input.peers.filter((p) => p.ip && p.id !== input.node.id)
  const portOf = (p: {ports?: NatsPorts}): number => p.ports?.cluster ?? input.ports.cluster
  const cluster = input.cluster ?? peers.length > 0
  // A clustered JetStream server refuses to start without a route. The first node of a forest
  // whose other addresses are not known yet routes to itself: NATS ignores a route to itself,
  // and the others, who know its address, connect to it.
  const routed: Array<{ip: string; ports?: NatsPorts}> = cluster && peers.length === 0 ? [{ip: input.node.ip, ports: input.ports}] : peers
  return {
    advertise: input.node.ip,
    cluster,
    cluster_auth: input.cluster_auth ?? null,
    system_user: input.system_user ?? null,
    files: {log: input.files.log ?? null, pid: input.files.pid ?? null, store_dir: input.files.store_dir},
    forest: input.forest,
    jetstream: {max_file: input.jetstream?.max_file ?? null, max_memory: input.jetstream?.max_memory ?? null},
    listen: input.bind,
    node: input.node,
    ports: input.ports,
    routes: routed.map((p) => routeUrl(p.ip, portOf(p), input.cluster_auth)),
    tls: extra.tls ?? null,
  }
}
