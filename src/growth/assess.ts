import {deviceId} from '../device.js'
import {MorpheusError} from '../errors.js'
import type {ForestDeps} from '../forest/deps.js'
import {endpointsOf, nodePorts} from '../forest/endpoints.js'
import {elsewhereError, otherDevice} from '../forest/ownership.js'
import {nextNodeIds} from '../forest/util.js'
import type {ForestRecord, NatsPorts, NodeRecord, Provider, RegistryDocument} from '../plugin-api/index.js'
import {nodeState} from './metrics.js'
import {observeForest, type ForestObservation} from './observe.js'
import {countedNodes, decide, type Decision, type GrowthSettings} from './policy.js'
import {decisionFields, thresholdsOf, type GrowResult} from './result.js'

/** The provider of a forest as grow needs it: the instance and whether its nodes are local processes. */
export interface GrowProvider {
  provider: Provider
  machineLocal: boolean
}

export interface AssessDeps {
  provider(name: string): Promise<GrowProvider>
  ports: NatsPorts
  timeoutMs: number
  signal?: AbortSignal
  now?: () => Date
}

/** What assessing needs, from the forest engine's dependencies (the one set: src/forest/runtime-deps.ts). */
export function assessDeps(deps: Pick<ForestDeps, 'provider' | 'settings' | 'signal'>, timeoutMs: number): AssessDeps {
  return {
    ports: deps.settings.ports,
    async provider(name) {
      const {capabilities, provider} = await deps.provider(name)
      return {machineLocal: capabilities.machineLocal, provider}
    },
    signal: deps.signal,
    timeoutMs,
  }
}

export interface Assessment {
  forest: ForestRecord
  observation?: ForestObservation
  decision?: Decision
  provider?: GrowProvider
  result: GrowResult
}

const EMPTY_METRICS: GrowResult['metrics'] = {
  connections: 0,
  cpu_max_percent: null,
  cpu_percent: null,
  healthy: 0,
  in_msgs: 0,
  memory_max_percent: null,
  memory_percent: null,
  nodes: 0,
  out_msgs: 0,
  reachable: 0,
  routes_missing: [],
  routes_ok: false,
  slow_consumers: 0,
  storage_max_percent: null,
  storage_percent: null,
  unreachable: 0,
}

/** A result for a forest that could not be assessed or grown: status error, with the error's code and exit code. */
export function errorResult(forestId: string, settings: GrowthSettings, error: MorpheusError, base?: Partial<GrowResult>): GrowResult {
  return {
    action: null,
    metrics: EMPTY_METRICS,
    nodes: [],
    thresholds: thresholdsOf(settings),
    ...base,
    error: {code: error.kind, exitCode: error.exitCode, message: error.message, ...(error.hint ? {hint: error.hint} : {})},
    forest_id: forestId,
    message: error.message,
    reason: 'error',
    status: 'error',
  }
}

function asMorpheus(error: unknown): MorpheusError {
  return error instanceof MorpheusError
    ? error
    : new MorpheusError('UNEXPECTED', (error as Error)?.message ?? String(error), {cause: error})
}

/**
 * Look at one forest: its live metrics and what the policy makes of them. Never throws for the
 * forest's own problems (provider missing, nodes on another device): those give status error.
 */
export async function assessForest(
  deps: AssessDeps,
  doc: RegistryDocument,
  forestId: string,
  settings: GrowthSettings,
): Promise<Assessment> {
  const forest = doc.forests[forestId]
  const all: NodeRecord[] = doc.nodes[forestId] ?? []
  let provider: GrowProvider
  try {
    provider = await deps.provider(forest.provider)
  } catch (error) {
    return {forest, result: errorResult(forestId, settings, asMorpheus(error))}
  }
  const elsewhere = otherDevice(forest, {machineLocal: provider.machineLocal}, deviceId())
  if (elsewhere) return {forest, provider, result: errorResult(forestId, settings, elsewhereError(forest, elsewhere, 'growing it'))}
  const observation = await observeForest(
    {
      endpoints: (n) => endpointsOf(provider.provider, n, nodePorts(n, forest, deps.ports)),
      machineLocal: provider.machineLocal,
      resources: provider.provider.resources
        ? (n) => provider.provider.resources!(n, deps.signal ?? new AbortController().signal)
        : undefined,
      signal: deps.signal,
      timeoutMs: deps.timeoutMs,
    },
    forest,
    all,
  )
  const now = deps.now?.() ?? new Date()
  const decision = decide({forest, metrics: observation.summary, nodeCount: observation.size, now, settings})
  const thresholds = {cpu: settings.threshold_cpu, memory: settings.threshold_memory, storage: settings.threshold_storage}
  const ids = decision.count > 0 ? nextNodeIds(countedNodes(all), decision.count) : []
  const result: GrowResult = {
    ...decisionFields(decision),
    action:
      decision.count > 0
        ? {
            count: decision.count,
            monthly_price: observation.monthly_price,
            node_id: ids[0],
            node_ids: ids,
            nodes_after: observation.size + decision.count,
            type: 'provision_node',
          }
        : null,
    forest_id: forestId,
    metrics: observation.summary,
    nodes: observation.metrics.map((n) => ({...n, state: nodeState(n, thresholds)})),
    thresholds: thresholdsOf(settings),
  }
  return {decision, forest, observation, provider, result}
}
