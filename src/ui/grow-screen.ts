import type {ForestRecord} from '../plugin-api/index.js'
import type {GrowResult} from '../growth/result.js'
import {ago, table} from './table.js'

const BAR = 25

/** `████████████░░░░░░░░░░░░░` for a percentage (clamped to 0-100). */
export function bar(percent: number | null, width = BAR): string {
  if (percent === null) return '·'.repeat(width)
  const filled = Math.round((Math.min(100, Math.max(0, percent)) / 100) * width)
  return '█'.repeat(filled) + '░'.repeat(width - filled)
}

/** 1234567 -> 1.2M, 3400 -> 3.4K, 999 -> 999. */
export function count(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`
  return String(n)
}

/** 45%, 0.3% (small values keep a decimal, so a crossed 0% threshold does not read 0%). */
export const pct = (v: number | null) =>
  v === null ? '-' : v > 0 && v < 0.1 ? '<0.1%' : v > 0 && v < 10 ? `${Math.round(v * 10) / 10}%` : `${Math.round(v)}%`

const CURRENCY: Record<string, string> = {EUR: '€', GBP: '£', USD: '$'}

/** "~€3.49/month", "no extra cost", "price unknown". */
export function price(p: {amount: number; currency: string} | null | undefined, n = 1): string {
  if (!p) return 'price unknown'
  if (p.amount === 0) return 'no extra cost'
  const amount = Math.round(p.amount * n * 100) / 100
  const sym = CURRENCY[p.currency]
  return `~${sym ? `${sym}${amount}` : `${amount} ${p.currency}`}/month`
}

const LABEL: Record<string, string> = {cpu: 'CPU', memory: 'Memory', storage: 'Storage'}

/**
 * The grow screen (see the seeds' "Display"): forest header, cluster summary, usage bars with a
 * mark over a threshold, the node table (healthy / warning / unreachable), threshold warnings and
 * the recommendation with its monthly cost. The prompt and the progress come after it.
 */
export function growScreen(forest: ForestRecord, r: GrowResult, now = Date.now()): string {
  const m = r.metrics
  const t = r.thresholds
  const lines: string[] = []
  lines.push(`🌲 Forest: ${forest.id}`)
  lines.push(`   Provider: ${forest.provider}${forest.location ? ` (${forest.location})` : ''}`)
  lines.push(`   Created: ${ago(forest.created_at, now)}${forest.last_expansion ? `; last grown ${ago(forest.last_expansion, now)}` : ''}`)
  lines.push('')
  lines.push('NATS Cluster:')
  const connected = m.unreachable === 0 ? `${m.nodes} connected` : `${m.reachable} of ${m.nodes} answering, ${m.unreachable} unreachable`
  lines.push(`   Nodes: ${connected}`)
  const expected = Math.max(0, m.nodes - 1)
  lines.push(
    `   Routes: ${m.routes_ok ? (m.nodes === 1 ? 'standalone (one node)' : `full mesh (each node sees ${expected} route${expected === 1 ? '' : 's'})`) : `incomplete${m.routes_missing.length > 0 ? `: ${m.routes_missing.join(', ')} see${m.routes_missing.length === 1 ? 's' : ''} fewer than ${expected}` : ''}`}`,
  )
  lines.push(`   Messages: ${count(m.in_msgs)} in / ${count(m.out_msgs)} out`)
  lines.push(`   Connections: ${m.connections}${m.slow_consumers > 0 ? ` (${m.slow_consumers} slow consumers)` : ''}`)
  lines.push('')
  lines.push('Resources:')
  const rows: Array<['cpu' | 'memory' | 'storage', number | null, number | null]> = [
    ['cpu', m.cpu_percent, m.cpu_max_percent],
    ['memory', m.memory_percent, m.memory_max_percent],
    ['storage', m.storage_percent, m.storage_max_percent],
  ]
  const over: string[] = []
  for (const [key, avg, max] of rows) {
    const label = `${LABEL[key]}:`.padEnd(8)
    const hot = avg !== null && avg > t[key]
    if (hot) over.push(`${LABEL[key]} usage above ${t[key]}% threshold`)
    const peak = max !== null && avg !== null && max - avg >= 5 ? ` (max ${pct(max)})` : ''
    lines.push(
      avg === null
        ? `   ${label}${'-'.padStart(4)} (no node reported it)`
        : `   ${label}${pct(avg).padStart(4)} ${bar(avg)}${hot ? ' ⚠️' : ''}${peak}`,
    )
  }
  lines.push('')
  const nodeTable = table(
    ['NODE', 'IP', 'CPU', 'MEM', 'DISK', 'ROUTES', 'STATUS'],
    r.nodes.map((n) => [
      n.id,
      n.address,
      pct(n.cpu_percent),
      pct(n.memory_percent),
      pct(n.storage_percent),
      n.reachable ? `${n.routes}/${n.routes_expected}` : '-',
      n.state === 'unreachable'
        ? `unreachable (${n.error ?? 'no answer'})`
        : n.state === 'warning' && n.error
          ? `warning (${n.error})`
          : n.state,
    ]),
  )
  for (const line of nodeTable.split('\n')) lines.push(`   ${line}`)
  lines.push('')
  for (const w of over) lines.push(`⚠️  ${w}`)
  if (m.unreachable > 0) lines.push(`⚠️  ${m.unreachable} node${m.unreachable === 1 ? '' : 's'} unreachable`)
  if (over.length > 0 || m.unreachable > 0) lines.push('')
  lines.push(recommendation(r))
  return lines.join('\n')
}

/** The line under the screen: what grow recommends, or why it recommends nothing. */
export function recommendation(r: GrowResult): string {
  if (r.action && (r.status === 'expanded' || r.status === 'dry_run')) {
    const n = r.action.count
    return `Recommendation: Add ${n} node${n === 1 ? '' : 's'} (${price(r.action.monthly_price, n)})`
  }
  switch (r.status) {
    case 'cooldown':
      return `No growth now: ${r.message}.`
    case 'at_max_nodes':
      return `No growth: at the limit (${r.message}). Raise it with \`morpheus config set growth.max_nodes N\`.`
    default:
      return r.reason === 'below_threshold' ? 'No growth needed: usage is within the thresholds.' : `No growth: ${r.message}.`
  }
}
