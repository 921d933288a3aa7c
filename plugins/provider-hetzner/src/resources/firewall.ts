import type {ForestRecord} from 'morpheus/plugin-api'

import type {Action, Firewall} from '../api/types.js'
import {addressesOf, hostCidr} from '../addresses.js'
import {firewallRules, sameRules} from '../firewall.js'
import {forestLabels, forestSelector, resourceName} from '../labels.js'
import {isCode, type Cloud} from './cloud.js'
import {forestPrimaryIps} from './primary-ips.js'

/** Tries to empty and delete a firewall that is applied again while it is being deleted. */
const FIREWALL_ROUNDS = 4

/**
 * The networks allowed to reach monitoring (and SSH, unless ssh_cidrs says otherwise): operator_cidrs,
 * else this machine's public address as public_address_url tells it.
 */
export async function findOperatorCidrs(cloud: Cloud, signal: AbortSignal): Promise<string[]> {
  const {context, settings} = cloud
  if (settings.operator_cidrs.length > 0) return settings.operator_cidrs
  const url = settings.public_address_url
  const hint =
    "Set the networks allowed to reach monitoring: `morpheus config set providers.hetzner.operator_cidrs '[203.0.113.7/32]'` (your public address)."
  if (!url)
    throw context.error(
      'PREREQUISITE',
      'providers.hetzner.operator_cidrs is empty and public_address_url is not set, so the firewall would shut the operator out',
      hint,
    )
  try {
    const response = await fetch(url, {signal: AbortSignal.any([signal, AbortSignal.timeout(5000)])})
    const text = (await response.text()).trim()
    if (!response.ok || !/^[0-9a-f:.]+$/i.test(text)) throw new Error(`answer ${response.status}`)
    context.log.info(
      `the firewall lets this machine's public address ${text} reach monitoring and SSH (providers.hetzner.operator_cidrs overrides)`,
    )
    return [hostCidr(text)]
  } catch (error) {
    if (signal.aborted) throw error
    throw context.error('PREREQUISITE', `could not find out this machine's public address from ${url} (${(error as Error).message})`, hint)
  }
}

/** The operator's networks, looked up (and kept) by the caller when first needed. */
export type OperatorCidrs = (signal: AbortSignal) => Promise<readonly string[]>

/** The forest's firewalls (one, unless something made another with its label). */
export function findFirewalls(cloud: Cloud, forestId: string, signal: AbortSignal): Promise<Firewall[]> {
  return cloud.hc.all(
    'GET /firewalls',
    (api, page, sig) =>
      api.GET('/firewalls', {params: {query: {label_selector: forestSelector(forestId), page, per_page: 50}}, signal: sig}),
    (d) => d.firewalls,
    signal,
  )
}

/**
 * Create the forest's firewall (applied to the forest's label selector), or give the one found the
 * rules these node addresses need; nothing when its rules are already those.
 */
export async function syncFirewall(
  cloud: Cloud,
  forest: ForestRecord,
  nodeAddresses: readonly string[],
  operatorCidrs: OperatorCidrs,
  signal: AbortSignal,
): Promise<void> {
  const {context, hc, settings} = cloud
  const operator = await operatorCidrs(signal)
  const ssh = settings.ssh_cidrs.length > 0 ? settings.ssh_cidrs : operator
  const rules = firewallRules(nodeAddresses.map(hostCidr), operator, ssh, context.ports)
  const [existing] = await findFirewalls(cloud, forest.id, signal)
  if (existing) {
    if (sameRules(existing.rules, rules)) return
    await hc.call(
      `POST /firewalls/${existing.id}/actions/set_rules`,
      (api, sig) => api.POST('/firewalls/{id}/actions/set_rules', {body: {rules}, params: {path: {id: existing.id}}, signal: sig}),
      signal,
    )
    return
  }
  const selector = forestSelector(forest.id)
  const made = await hc.call(
    'POST /firewalls',
    (api, sig) =>
      api.POST('/firewalls', {
        body: {
          apply_to: [{label_selector: {selector}, type: 'label_selector'}],
          labels: forestLabels(forest.id),
          name: resourceName('morpheus', forest.id),
          rules,
        },
        signal: sig,
      }),
    signal,
  )
  if (made.firewall) cloud.created.firewalls.add(made.firewall.id)
}

/** Rules again from the forest's Primary IPs (after a node came or went); nothing when the forest has none. */
export async function refreshFirewall(cloud: Cloud, forest: ForestRecord, operator: OperatorCidrs, signal: AbortSignal): Promise<void> {
  const known = await forestPrimaryIps(cloud, forest.id, signal)
  const addresses = [...known.values()]
    .flatMap((ips) => [ips.v4?.ip, ips.v6 ? addressesOf({v6: ips.v6}, 'ipv6').ipv6 : undefined])
    .filter((a): a is string => Boolean(a))
  if (addresses.length === 0) return
  await syncFirewall(cloud, forest, addresses, operator, signal)
}

/**
 * Delete a firewall. One applied through a label selector cannot be deleted while the selector is in its
 * applied_to (422 resource_in_use), even with no server left, so every entry is removed first
 * (remove_from_resources with the selector as it is, never the servers it reaches: that is
 * firewall_managed_by_label_selector), its action waited for, then the firewall deleted. Converges on a
 * re-run: a firewall already gone (404), or whose entries are already gone, is fine; one applied again
 * meanwhile is read and emptied again, a few times.
 */
export async function deleteFirewall(cloud: Cloud, id: number, signal: AbortSignal, known?: Firewall): Promise<void> {
  for (let round = 1; ; round++) {
    const fw = known ?? (await getFirewall(cloud, id, signal))
    known = undefined
    if (!fw) break
    await detachFirewall(cloud, fw, signal)
    try {
      await cloud.hc.call(
        `DELETE /firewalls/${id}`,
        (api, sig) => api.DELETE('/firewalls/{id}', {params: {path: {id}}, signal: sig}),
        signal,
        {persistent: true},
      )
      break
    } catch (error) {
      if (isCode(error, 'not_found')) break
      if (!isCode(error, 'resource_in_use') || round >= FIREWALL_ROUNDS) throw error
      cloud.context.log.warn(`firewall ${fw.name} (${id}) is still in use; removing what it is applied to again`)
      await cloud.context.helpers.sleep(500 * round, signal)
    }
  }
  cloud.created.firewalls.delete(id)
}

async function getFirewall(cloud: Cloud, id: number, signal: AbortSignal): Promise<Firewall | undefined> {
  try {
    const got = await cloud.hc.call(
      `GET /firewalls/${id}`,
      (api, sig) => api.GET('/firewalls/{id}', {params: {path: {id}}, signal: sig}),
      signal,
      {persistent: true},
    )
    return got.firewall
  } catch (error) {
    if (isCode(error, 'not_found')) return undefined
    throw error
  }
}

/** Remove a firewall from everything in its applied_to (label selectors as they are, servers applied by id) and wait for it. */
async function detachFirewall(cloud: Cloud, fw: Firewall, signal: AbortSignal): Promise<void> {
  const removeFrom = (fw.applied_to ?? []).map((a) =>
    a.type === 'label_selector'
      ? {label_selector: {selector: a.label_selector!.selector}, type: 'label_selector' as const}
      : {server: {id: a.server!.id}, type: 'server' as const},
  )
  if (removeFrom.length === 0) return
  let actions: Action[]
  try {
    const made = await cloud.hc.call(
      `POST /firewalls/${fw.id}/actions/remove_from_resources`,
      (api, sig) =>
        api.POST('/firewalls/{id}/actions/remove_from_resources', {
          body: {remove_from: removeFrom},
          params: {path: {id: fw.id}},
          signal: sig,
        }),
      signal,
      {persistent: true},
    )
    actions = made.actions
  } catch (error) {
    // Gone, or an entry already removed (by an earlier try or run): the delete that follows says whether anything is left.
    if (isCode(error, 'not_found', 'firewall_resource_not_found')) return
    throw error
  }
  await Promise.all(
    actions.map((a) =>
      cloud.waiter.wait(
        a,
        `removing firewall ${fw.name} from ${removeFrom.map((r) => r.label_selector?.selector ?? `server ${r.server?.id}`).join(', ')}`,
        120_000,
        signal,
      ),
    ),
  )
}
