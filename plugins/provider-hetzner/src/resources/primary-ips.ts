import type {ForestRecord, NodeRecord} from 'morpheus/plugin-api'

import type {PrimaryIp} from '../api/types.js'
import type {NodeIps} from '../addresses.js'
import {forestSelector, nodeLabels, nodeSelector, resourceName} from '../labels.js'
import {CLEANUP_MS, eachLimit, isCode, type Cloud} from './cloud.js'

/** Every Primary IP with the forest's label (all pages). */
export function listForestPrimaryIps(cloud: Cloud, forestId: string, signal: AbortSignal): Promise<PrimaryIp[]> {
  return cloud.hc.all(
    'GET /primary_ips',
    (api, page, sig) =>
      api.GET('/primary_ips', {params: {query: {label_selector: forestSelector(forestId), page, per_page: 50}}, signal: sig}),
    (d) => d.primary_ips,
    signal,
  )
}

/** The forest's Primary IPs by node id (from their `node` label). */
export async function forestPrimaryIps(cloud: Cloud, forestId: string, signal: AbortSignal): Promise<Map<string, NodeIps>> {
  const list = await listForestPrimaryIps(cloud, forestId, signal)
  const out = new Map<string, NodeIps>()
  for (const ip of list) {
    const node = ip.labels?.node
    if (!node) continue
    const ips = out.get(node) ?? {}
    if (ip.type === 'ipv6') ips.v6 = ip
    else ips.v4 = ip
    out.set(node, ips)
  }
  return out
}

/** The Primary IPs labelled for one node (one page: a node has two at most). */
export async function nodePrimaryIps(
  cloud: Cloud,
  forestId: string,
  nodeId: string,
  signal: AbortSignal,
  options: {persistent?: boolean} = {},
): Promise<PrimaryIp[]> {
  const found = await cloud.hc.call(
    'GET /primary_ips',
    (api, sig) => api.GET('/primary_ips', {params: {query: {label_selector: nodeSelector(forestId, nodeId)}}, signal: sig}),
    signal,
    options.persistent ? {persistent: true} : undefined,
  )
  return found.primary_ips
}

/** Allocate one Primary IP for a node in `location` (not assigned: the server takes it at create), and wait for it. */
export async function createPrimaryIp(
  cloud: Cloud,
  forest: ForestRecord,
  node: NodeRecord,
  type: 'ipv4' | 'ipv6',
  location: string,
  signal: AbortSignal,
): Promise<PrimaryIp> {
  const body = {
    assignee_type: 'server' as const,
    auto_delete: true,
    labels: nodeLabels(forest.id, node.id, node.role || 'edge'),
    location,
    name: resourceName(forest.id, node.id, type === 'ipv6' ? 'v6' : 'v4'),
    type,
  }
  const created = await cloud.hc.call('POST /primary_ips', (api, sig) => api.POST('/primary_ips', {body, signal: sig}), signal)
  cloud.created.primaryIps.add(created.primary_ip.id)
  if (created.action) await cloud.waiter.wait(created.action, `Primary IP ${body.name}`, 60_000, signal)
  return created.primary_ip
}

/** Delete Primary IPs (on the clean-up clock); one already gone is fine. */
export async function deletePrimaryIps(cloud: Cloud, ids: readonly number[]): Promise<void> {
  const signal = AbortSignal.timeout(CLEANUP_MS)
  await eachLimit(cloud, ids, cloud.settings.parallel, async (id) => {
    try {
      await cloud.hc.call(
        `DELETE /primary_ips/${id}`,
        (api, sig) => api.DELETE('/primary_ips/{id}', {params: {path: {id}}, signal: sig}),
        signal,
        {persistent: true},
      )
    } catch (error) {
      if (!isCode(error, 'not_found')) throw error
    }
    cloud.created.primaryIps.delete(id)
  })
}

/** The ids of a node's Primary IPs as this run knows them. */
export function idsOf(ips: NodeIps): number[] {
  return [ips.v6?.id, ips.v4?.id].filter((id): id is number => id !== undefined)
}
