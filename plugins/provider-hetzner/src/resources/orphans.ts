import type {OrphanResource} from 'morpheus/plugin-api'

import {managedSelector} from '../labels.js'
import type {Cloud} from './cloud.js'
import {deleteFirewall} from './firewall.js'
import {deletePrimaryIps} from './primary-ips.js'
import {deleteServer} from './servers.js'

type OrphanKind = 'server' | 'primary_ip' | 'firewall'

/** Resources labelled managed-by=morpheus whose forest label is missing or names no forest in `knownForests`. */
export async function findOrphans(cloud: Cloud, knownForests: readonly string[], signal: AbortSignal): Promise<OrphanResource[]> {
  const {hc} = cloud
  const known = new Set(knownForests)
  const q = (page: number) => ({params: {query: {label_selector: managedSelector, page, per_page: 50}}})
  const servers = await hc.all(
    'GET /servers',
    (api, page, sig) => api.GET('/servers', {...q(page), signal: sig}),
    (d) => d.servers,
    signal,
  )
  const ips = await hc.all(
    'GET /primary_ips',
    (api, page, sig) => api.GET('/primary_ips', {...q(page), signal: sig}),
    (d) => d.primary_ips,
    signal,
  )
  const fws = await hc.all(
    'GET /firewalls',
    (api, page, sig) => api.GET('/firewalls', {...q(page), signal: sig}),
    (d) => d.firewalls,
    signal,
  )
  const out: OrphanResource[] = []
  const orphan = (labels: Record<string, string> | undefined) => !labels?.forest || !known.has(labels.forest)
  const add = (kind: OrphanKind, r: {id: number; name: string; labels?: Record<string, string>}) => {
    if (orphan(r.labels)) out.push({id: String(r.id), kind, name: r.name, ...(r.labels?.forest ? {forest: r.labels.forest} : {})})
  }
  // In the order they must go: a server holds its Primary IPs and firewall.
  for (const s of servers) add('server', s)
  for (const f of fws) add('firewall', f)
  for (const p of ips) add('primary_ip', p)
  return out
}

/** Delete one orphan; gone already is fine. Servers are waited for, so their Primary IPs can go next. */
export async function destroyOrphan(cloud: Cloud, orphan: OrphanResource, signal: AbortSignal): Promise<void> {
  const id = Number(orphan.id)
  if (!Number.isSafeInteger(id)) throw cloud.context.error('FAILED', `not a Hetzner resource id: ${orphan.id}`)
  switch (orphan.kind as OrphanKind) {
    case 'server':
      return deleteServer(cloud, id, signal)
    case 'primary_ip':
      return deletePrimaryIps(cloud, [id])
    case 'firewall':
      return deleteFirewall(cloud, id, signal)
    default:
      throw cloud.context.error('FAILED', `unknown kind of Hetzner resource: ${orphan.kind}`)
  }
}
