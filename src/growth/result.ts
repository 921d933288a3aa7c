import type {ForestMetrics, NodeMetrics, NodeState} from './metrics.js'
import type {Decision, GrowReason, GrowStatus, GrowthSettings} from './policy.js'

/**
 * What `grow` reports for one forest (`--json`, `--output json`), in the seeds' shape:
 * forest_id, status, reason, metrics, action; plus the message, thresholds and nodes.
 */
export interface GrowResult {
  forest_id: string
  status: GrowStatus
  reason: GrowReason
  message: string
  metrics: Omit<ForestMetrics, 'routes_missing'> & {routes_missing: string[]}
  thresholds: {cpu: number; memory: number; storage: number}
  /** What was done (expanded) or would be done (dry_run); null otherwise. */
  action: null | {
    type: 'provision_node'
    /** The first node added (the seeds' field); node_ids lists all. */
    node_id: string
    node_ids: string[]
    count: number
    monthly_price: {amount: number; currency: string} | null
    /** Nodes in the forest after the action. */
    nodes_after: number
  }
  cooldown_until?: string
  nodes: Array<NodeMetrics & {state: NodeState}>
  error?: {code: string; exitCode: number; message: string; hint?: string}
}

export function thresholdsOf(s: GrowthSettings): GrowResult['thresholds'] {
  return {cpu: s.threshold_cpu, memory: s.threshold_memory, storage: s.threshold_storage}
}

export function decisionFields(d: Decision): Pick<GrowResult, 'status' | 'reason' | 'message'> & {cooldown_until?: string} {
  return {message: d.message, reason: d.reason, status: d.status, ...(d.cooldown_until ? {cooldown_until: d.cooldown_until} : {})}
}

/** The result with its keys in the documented order (forest_id, status, reason, message, metrics, action, ...). */
export function ordered(r: GrowResult): GrowResult {
  const {action, cooldown_until: until, error, forest_id: id, message, metrics, nodes, reason, status, thresholds} = r
  return {
    forest_id: id,
    status,
    reason,
    message,
    metrics,
    action,
    thresholds,
    ...(until ? {cooldown_until: until} : {}),
    ...(error ? {error} : {}),
    nodes,
  }
}
