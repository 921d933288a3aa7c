import {urlHost} from '../net.js'
import type {NatsConfigInput} from '../plugin-api/index.js'

function routeUrl(ip: string, port: number, auth?: {user: string; password: string} | null): string {
  const host = urlHost(ip)
  const cred = auth ? `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.password)}@` : ''
  return `nats-route://${cred}${host}:${port}`
}

/** The data nats.conf.hbs is rendered with: routes to every peer, the node's own address advertised. */
export function natsConfigData(input: NatsConfigInput): Record<string, unknown> {
  return {
    advertise: input.node.ip,
    cluster_auth: input.cluster_auth ?? null,
    files: {log: input.files.log ?? null, pid: input.files.pid ?? null, store_dir: input.files.store_dir},
    forest: input.forest,
    jetstream: {max_file: input.jetstream?.max_file ?? null, max_memory: input.jetstream?.max_memory ?? null},
    listen: input.bind,
    node: input.node,
    ports: input.ports,
    routes: input.peers.filter((p) => p.ip && p.ip !== input.node.ip).map((p) => routeUrl(p.ip, input.ports.cluster, input.cluster_auth)),
  }
}
