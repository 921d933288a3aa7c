import type {ForestRecord, NodeRecord} from '../plugin-api/index.js'
import type {ForestMetrics} from './metrics.js'
import {plural} from '../words.js'

/** The `growth` section of the config, with defaults (see core-schema.ts and config.example.yaml). */
export interface GrowthSettings {
  /** false: grow --auto reports, never adds. */
  enabled: boolean
  threshold_cpu: number
  threshold_memory: number
  threshold_storage: number
  max_nodes: number
  cooldown_minutes: number
  max_per_run: number
  max_unreachable: number
}

export const GROWTH_DEFAULTS: GrowthSettings = {
  cooldown_minutes: 15,
  enabled: true,
  max_nodes: 10,
  max_per_run: 1,
  max_unreachable: 0,
  threshold_cpu: 80,
  threshold_memory: 80,
  threshold_storage: 80,
}

/** The config's growth section, defaulted; `--threshold N` replaces every threshold. */
export function growthSettings(section: Record<string, unknown> | undefined, threshold?: number): GrowthSettings {
  const s = {...GROWTH_DEFAULTS}
  for (const key of Object.keys(GROWTH_DEFAULTS) as Array<keyof GrowthSettings>) {
    const v = section?.[key]
    if (typeof v === typeof GROWTH_DEFAULTS[key] && (typeof v !== 'number' || Number.isFinite(v))) (s as Record<string, unknown>)[key] = v
  }
  if (threshold !== undefined) s.threshold_cpu = s.threshold_memory = s.threshold_storage = threshold
  return s
}

export type GrowStatus = 'no_action' | 'expanded' | 'cooldown' | 'at_max_nodes' | 'dry_run' | 'error'

export type GrowReason =
  | 'cpu_above_threshold'
  | 'memory_above_threshold'
  | 'storage_above_threshold'
  | 'below_threshold'
  | 'nodes_unreachable'
  | 'no_metrics'
  | 'cooldown'
  | 'at_max_nodes'
  | 'forest_not_active'
  | 'no_nodes'
  | 'declined'
  | 'expansion_in_progress'
  | 'growth_disabled'
  | 'error'

export interface Decision {
  status: GrowStatus
  /** The first reason; `reasons` lists every threshold crossed. */
  reason: GrowReason
  reasons: GrowReason[]
  /** Nodes to add (0 unless status is expanded). */
  count: number
  /** One sentence for people and logs. */
  message: string
  /** When the cooldown ends (ISO), if it applies. */
  cooldown_until?: string
}

/** Nodes that count toward the forest's size: everything the registry lists but nodes being deleted. */
export function countedNodes(nodes: readonly NodeRecord[]): NodeRecord[] {
  return nodes.filter((n) => n.status !== 'deleting')
}

/** The moment the cooldown after the forest's last expansion ends, or null when none applies at `now`. */
export function cooldownUntil(forest: Pick<ForestRecord, 'last_expansion'>, minutes: number, now: Date): Date | null {
  if (!forest.last_expansion || minutes <= 0) return null
  const until = new Date(Date.parse(forest.last_expansion) + minutes * 60_000)
  return until.getTime() > now.getTime() ? until : null
}

function fmt(v: number | null): string {
  return v === null ? '?' : `${v}%`
}

/**
 * What grow --auto should do for one forest, from its registry record and its live metrics.
 * Pure: the same inputs give the same decision. The order of the checks is the documented one:
 * forest not active, no nodes, too many unreachable nodes (a network fault is not load), cooldown,
 * thresholds, max_nodes.
 */
export function decide(input: {
  forest: ForestRecord
  nodeCount: number
  metrics: ForestMetrics
  settings: GrowthSettings
  now: Date
}): Decision {
  const {forest, metrics: m, nodeCount, settings: s, now} = input
  const no = (status: GrowStatus, reason: GrowReason, message: string, extra: Partial<Decision> = {}): Decision => ({
    count: 0,
    message,
    reason,
    reasons: [reason],
    status,
    ...extra,
  })
  if (forest.status !== 'active') return no('no_action', 'forest_not_active', `the forest is ${forest.status}, not active`)
  if (nodeCount === 0 || m.nodes === 0) return no('no_action', 'no_nodes', 'the forest has no nodes')
  if (m.unreachable > s.max_unreachable) {
    return no(
      'no_action',
      'nodes_unreachable',
      `${m.unreachable} of ${m.nodes} node${m.nodes === 1 ? '' : 's'} did not answer (growth.max_unreachable is ${s.max_unreachable}): a network fault is not load, so nothing is added`,
    )
  }
  const until = cooldownUntil(forest, s.cooldown_minutes, now)
  if (until) {
    return no(
      'cooldown',
      'cooldown',
      `the forest grew at ${forest.last_expansion}; growth.cooldown_minutes (${s.cooldown_minutes}) ends at ${until.toISOString()}`,
      {cooldown_until: until.toISOString()},
    )
  }
  const crossed: Array<{reason: GrowReason; value: number; threshold: number}> = []
  if (m.cpu_percent !== null && m.cpu_percent > s.threshold_cpu)
    crossed.push({reason: 'cpu_above_threshold', threshold: s.threshold_cpu, value: m.cpu_percent})
  if (m.memory_percent !== null && m.memory_percent > s.threshold_memory)
    crossed.push({reason: 'memory_above_threshold', threshold: s.threshold_memory, value: m.memory_percent})
  if (m.storage_percent !== null && m.storage_percent > s.threshold_storage)
    crossed.push({reason: 'storage_above_threshold', threshold: s.threshold_storage, value: m.storage_percent})
  if (crossed.length === 0) {
    if (m.cpu_percent === null && m.memory_percent === null && m.storage_percent === null)
      return no('no_action', 'no_metrics', 'no node reported any load')
    return no(
      'no_action',
      'below_threshold',
      `CPU ${fmt(m.cpu_percent)}, memory ${fmt(m.memory_percent)}, storage ${fmt(m.storage_percent)}: all at or below the thresholds (${s.threshold_cpu}%, ${s.threshold_memory}%, ${s.threshold_storage}%)`,
    )
  }
  const reasons = crossed.map((c) => c.reason)
  if (nodeCount >= s.max_nodes) {
    return {
      count: 0,
      message: `the forest has ${plural(nodeCount, 'node')}, growth.max_nodes is ${s.max_nodes}`,
      reason: 'at_max_nodes',
      reasons: ['at_max_nodes', ...reasons],
      status: 'at_max_nodes',
    }
  }
  // Enough nodes to bring the most loaded average back under its threshold, within the limits.
  const needed = Math.max(1, ...crossed.map((c) => Math.ceil((nodeCount * c.value) / Math.max(c.threshold, 1)) - nodeCount))
  const count = Math.max(1, Math.min(needed, s.max_per_run, s.max_nodes - nodeCount))
  const what = crossed.map((c) => `${c.reason.split('_')[0]} ${c.value}% > ${c.threshold}%`).join(', ')
  return {count, message: `${what}: add ${count} node${count === 1 ? '' : 's'}`, reason: reasons[0], reasons, status: 'expanded'}
}

/** What the registry claim refused, when it refuses. */
export interface Refusal {
  status: GrowStatus
  reason: GrowReason
  message: string
}

/**
 * The guard run inside the registry claim's compare-and-swap, against the document as it is then:
 * another device may have grown the forest since we looked. Returns a refusal string (nothing is
 * written then) and remembers the refusal for the result.
 */
export function claimGuard(
  settings: GrowthSettings,
  count: number,
): {guard: (forest: ForestRecord, nodes: readonly NodeRecord[], now: Date) => string | undefined; refusal: () => Refusal | undefined} {
  let refusal: Refusal | undefined
  const guard = (forest: ForestRecord, nodes: readonly NodeRecord[], now: Date): string | undefined => {
    refusal = undefined
    if (forest.status !== 'active')
      refusal = {message: `the forest is ${forest.status}, not active`, reason: 'forest_not_active', status: 'no_action'}
    else {
      const until = cooldownUntil(forest, settings.cooldown_minutes, now)
      const size = countedNodes(nodes).length
      if (until)
        refusal = {
          message: `the forest grew at ${forest.last_expansion} (another run got there first); the cooldown ends at ${until.toISOString()}`,
          reason: 'cooldown',
          status: 'cooldown',
        }
      else if (size + count > settings.max_nodes)
        refusal = {
          message: `the forest has ${plural(size, 'node')}, growth.max_nodes is ${settings.max_nodes}`,
          reason: 'at_max_nodes',
          status: 'at_max_nodes',
        }
    }
    return refusal?.message
  }
  return {guard, refusal: () => refusal}
}
