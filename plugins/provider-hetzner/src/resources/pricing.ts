import type {CostEstimate} from 'morpheus/plugin-api'

import type {Choice} from '../catalog.js'
import type {Cloud} from './cloud.js'

function money(cents: number, currency: string): string {
  return `${(cents / 100).toFixed(2)} ${currency}`
}

/**
 * What `count` nodes cost a month, gross, from /pricing: the server type in the location of `choice`,
 * plus one Primary IPv6 and, with ipv4 on, one Primary IPv4 per node. Firewalls are free.
 */
export async function estimateCost(cloud: Cloud, choice: Choice, count: number, signal: AbortSignal): Promise<CostEstimate> {
  const {pricing} = await cloud.hc.call('GET /pricing', (api, sig) => api.GET('/pricing', {signal: sig}), signal)
  const server = choice.type.prices.find((p) => p.location === choice.location)
  const cents = (value: string | undefined) => Math.round(Number(value ?? 0) * 100)
  let perNode = cents(server?.price_monthly.gross)
  const breakdown = [`${choice.type.name} in ${choice.location}: ${money(perNode, pricing.currency)}`]
  for (const type of cloud.settings.ipv4 ? ['ipv4', 'ipv6'] : ['ipv6']) {
    const price = cents(
      pricing.primary_ips.find((p) => p.type === type)?.prices.find((p) => p.location === choice.location)?.price_monthly.gross,
    )
    perNode += price
    breakdown.push(`Primary ${type === 'ipv4' ? 'IPv4' : 'IPv6'}: ${money(price, pricing.currency)}`)
  }
  breakdown.push('firewall: free')
  return {
    breakdown,
    monthly: {amount: (perNode * count) / 100, currency: pricing.currency},
    per_node: {amount: perNode / 100, currency: pricing.currency},
  }
}
