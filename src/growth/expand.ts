import {MorpheusError} from '../errors.js'
import type {ForestDeps} from '../forest/deps.js'
import {Growth, type AddNodesResult} from '../forest/grow.js'
import type {ForestRecord, NodeRecord} from '../plugin-api/index.js'
import type {Phase} from '../ui/progress.js'

export interface ExpandRequest {
  forestId: string
  count: number
  /** Runs inside the registry claim's compare-and-swap; a string refuses (nothing is written). */
  guard: (forest: ForestRecord, nodes: readonly NodeRecord[], now: Date) => string | undefined
}

export type ExpandOutcome =
  | {kind: 'added'; result: AddNodesResult}
  /** The guard refused inside the claim (another run grew the forest since we looked, max_nodes). */
  | {kind: 'refused'; message: string}
  /** Another command is changing the forest right now (e.g. a grow on another device): nothing was claimed. */
  | {kind: 'busy'; message: string}

/** How the phases after the claim are shown (the command's ProgressRelay), and the hook for Ctrl-C. */
export interface ExpandUi {
  run(phases: Phase[]): Promise<void>
  /** Called once the claim succeeded, with what settles the growth if the user interrupts. */
  claimed?(settle: (error: unknown) => Promise<MorpheusError>): void
}

/**
 * Add nodes through the forest engine: claim them in the registry (last_expansion, the reserved
 * nodes, the forest's operation, checked by `guard` in the same compare-and-swap), then create,
 * join (a one-node forest is turned into a cluster first) and wait until every node routes to
 * all others. A failure after the claim is settled by the engine (recorded; cloud nodes rolled back).
 */
export async function expandForest(deps: ForestDeps, request: ExpandRequest, ui: ExpandUi): Promise<ExpandOutcome> {
  const started = Date.now()
  const growth = await Growth.prepare(deps, {count: request.count, forestId: request.forestId, guard: request.guard})
  let claimed: boolean
  try {
    claimed = await growth.claim()
  } catch (error) {
    // The engine refuses a forest another command is changing; say which, as a decision, not a failure.
    if (error instanceof MorpheusError && error.kind === 'REGISTRY') {
      const other = await otherRun(deps, request.forestId, started)
      if (other) return other
    }
    throw error
  }
  if (!claimed) return {kind: 'refused', message: growth.refused ?? 'refused'}
  let settling: Promise<MorpheusError> | undefined
  const settle = (error: unknown) => (settling ??= growth.abandon(error))
  ui.claimed?.(settle)
  const batch = growth.batch!
  const ids = batch.newIds.join(', ')
  const existing = batch.existingNodes.length
  try {
    await ui.run([
      {
        run: () => growth.create(),
        title: `${existing === 1 ? `Turning ${batch.existingNodes[0].id} into a cluster, then creating` : 'Creating'} ${ids} (${growth.handle.name})`,
      },
      {run: () => growth.waitFormed(), title: batch.nodes.length === 2 ? 'Joining the cluster: each node routes to the other' : `Joining the cluster: every node routes to the ${batch.nodes.length - 1} others`},
    ])
    const result = await growth.finish()
    // Defensive: a claim that reserved nothing is no expansion.
    if (result.added.length === 0) return {kind: 'refused', message: 'the claim reserved no node'}
    return {kind: 'added', result}
  } catch (error) {
    throw await settle(error)
  }
}

/**
 * After the engine refused the claim: is another run changing the forest (busy), or did one grow it
 * since we started (refused, as the guard would have)? Undefined when neither: the error stands.
 */
async function otherRun(deps: ForestDeps, forestId: string, since: number): Promise<ExpandOutcome | undefined> {
  let forest: ForestRecord | undefined
  try {
    forest = (await deps.store.read()).forests[forestId]
  } catch {
    return undefined
  }
  const op = forest?.operation
  if (op && !(op.pid === process.pid && op.device === deps.device)) {
    return {kind: 'busy', message: `a ${op.kind} on ${op.device} (pid ${op.pid}, started ${op.started_at}) is changing the forest right now`}
  }
  if (forest?.last_expansion && Date.parse(forest.last_expansion) >= since - 1000) {
    return {kind: 'refused', message: `another run grew the forest at ${forest.last_expansion}`}
  }
  return undefined
}
