import type {NatsPorts} from 'morpheus/plugin-api'

import type {FirewallRule} from './api/types.js'

/** The API allows at most 100 CIDRs in one rule. */
const MAX_SOURCES = 100

function rule(port: number, sources: readonly string[], description: string): FirewallRule[] {
  const unique = [...new Set(sources)].sort()
  const out: FirewallRule[] = []
  for (let i = 0; i < unique.length; i += MAX_SOURCES) {
    out.push({description, direction: 'in', port: String(port), protocol: 'tcp', source_ips: unique.slice(i, i + MAX_SOURCES)})
  }
  return out
}

/**
 * The forest's cloud firewall: routes (cluster port) only between the forest's nodes; monitoring and clients
 * from the nodes and the operator's networks; SSH from the SSH networks. Everything else inbound is dropped.
 */
export function firewallRules(
  nodeCidrs: readonly string[],
  operatorCidrs: readonly string[],
  sshCidrs: readonly string[],
  ports: NatsPorts,
): FirewallRule[] {
  return [
    ...rule(ports.cluster, nodeCidrs, 'NATS routes between the forest nodes'),
    ...rule(ports.monitor, [...nodeCidrs, ...operatorCidrs], 'NATS monitoring from the nodes and the operator'),
    ...rule(ports.client, [...nodeCidrs, ...operatorCidrs], 'NATS clients from the nodes and the operator'),
    ...rule(22, sshCidrs, 'SSH from the operator'),
  ]
}

/** Do two rule sets say the same (order of sources and rules aside)? */
type RuleLike = {direction: string; protocol: string; port?: string | null; source_ips?: string[]}

export function sameRules(a: readonly RuleLike[], b: readonly RuleLike[]): boolean {
  const key = (r: RuleLike) => `${r.direction}|${r.protocol}|${r.port ?? ''}|${[...(r.source_ips ?? [])].sort().join(',')}`
  const ka = a.map(key).sort()
  const kb = b.map(key).sort()
  return ka.length === kb.length && ka.every((k, i) => k === kb[i])
}
