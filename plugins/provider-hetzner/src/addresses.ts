import type {NodeAddresses} from 'morpheus/plugin-api'

import type {PrimaryIp} from './api/types.js'

/** A Primary IPv6 is a /64; the server's own address is conventionally <prefix>::1. */
export function hostOfIpv6(network: string): string {
  const prefix = network.split('/')[0]
  return prefix.endsWith('::') ? `${prefix}1` : prefix
}

export interface NodeIps {
  v6?: PrimaryIp
  v4?: PrimaryIp
}

/** A node's addresses from its Primary IPs: routes over `routeVia`, probed over IPv4 when it has one. */
export function addressesOf(ips: NodeIps, routeVia: 'ipv4' | 'ipv6'): NodeAddresses {
  const ipv6 = ips.v6 ? hostOfIpv6(ips.v6.ip) : undefined
  const ipv4 = ips.v4?.ip
  const ip = routeVia === 'ipv4' && ipv4 ? ipv4 : (ipv6 ?? ipv4)
  return {
    ...(ip ? {ip} : {}),
    ...(ipv4 ? {ipv4} : {}),
    ...(ipv6 ? {ipv6} : {}),
    ...(ipv4 || ipv6 ? {probe_address: ipv4 ?? ipv6} : {}),
  }
}

/** A single host as a CIDR (/32 or /128). */
export function hostCidr(address: string): string {
  return address.includes(':') ? `${address}/128` : `${address}/32`
}
