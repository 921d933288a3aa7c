import {MorpheusError} from '../errors.js'
import {pluginMessage} from '../plugins/guard.js'
import type {ForestRecord, NodeRecord} from '../plugin-api/index.js'
import {UNCHANGED} from '../registry/store.js'
import {interrupted, type NodeBatch} from './batch.js'
import {plural} from '../words.js'

export type Outcome = 'failed' | 'interrupted'

/**
 * How long one record of the end may take (ms): the registry writes of settle() run on this clock
 * of their own, never on the command's interrupt signal, which has already fired after a Ctrl-C.
 */
export const RECORD_MS = 60_000

/**
 * The one policy for a plant or grow that did not finish, whatever stopped it (an error, Ctrl-C,
 * SIGTERM): the registry must say exactly what exists.
 *
 * - Nodes the provider was never asked to create are dropped: they do not exist.
 * - Nodes it was asked to create keep their last known status (a create that failed: `failed`),
 *   so teardown finds and removes them.
 * - On a cloud provider (paid machines), the new nodes are removed again first; what could not
 *   be removed stays recorded. A plant whose every node is gone again leaves no forest behind.
 * - A plant's forest becomes `interrupted` or `failed` with the reason; a grow's forest keeps its
 *   status. The operation is cleared either way.
 *
 * Returns the error the command ends with.
 */
export async function settle(batch: NodeBatch, kind: 'plant' | 'grow', error: unknown): Promise<MorpheusError> {
  try {
    return await settleNow(batch, kind, error)
  } finally {
    // The store may serve more operations (grow --auto goes on with the next forest): off this clock.
    batch.deps.store.within(undefined)
  }
}

async function settleNow(batch: NodeBatch, kind: 'plant' | 'grow', error: unknown): Promise<MorpheusError> {
  const {deps} = batch
  const outcome: Outcome = deps.signal.aborted ? 'interrupted' : 'failed'
  const forestId = batch.forest.id
  const reason = error instanceof Error ? error.message : String(error)
  // What the engine knows now, even if some queued writes of the batch failed.
  deps.store.within(AbortSignal.timeout(RECORD_MS))
  await batch.settled().catch(() => undefined)
  // One last look (bounded), so nodes that came up are recorded active, not just started.
  await batch.lookOnce(1000).catch(() => undefined)

  // First the truth as it stands (a second Ctrl-C may end the process any moment after this).
  let removed = new Set<string>()
  await record(batch, kind, outcome, reason, removed)
  if (!batch.handle.capabilities.cloud) return ending(batch, kind, outcome, error, false)

  // A cloud: remove the new nodes again, so no paid machine is left behind; then record that.
  deps.progress.report(`removing the ${plural(batch.newIds.length, 'new node')} again, so no machine is left behind`)
  const left = await batch.rollback().catch(() => [...batch.newIds])
  removed = new Set(batch.newIds.filter((id) => !left.includes(id)))
  const dropForest = kind === 'plant' && batch.nodes.every((n) => removed.has(n.id))
  if (dropForest && batch.handle.provider.destroyForest) {
    await batch.handle.provider.destroyForest(batch.forest, AbortSignal.timeout(60_000)).catch((e) => {
      deps.log.warn(`forest-wide clean-up of ${forestId} failed: ${pluginMessage(e)}`)
    })
  }
  await record(batch, kind, outcome, reason, removed, dropForest)
  if (dropForest) await deps.secrets?.delete(forestId).catch(() => undefined)
  return ending(batch, kind, outcome, error, dropForest)
}

async function record(
  batch: NodeBatch,
  kind: 'plant' | 'grow',
  outcome: Outcome,
  reason: string,
  removed: ReadonlySet<string>,
  dropForest = false,
): Promise<void> {
  const {deps} = batch
  const forestId = batch.forest.id
  const keep = (n: NodeRecord) => !batch.newIds.includes(n.id) || (batch.attempted.has(n.id) && !removed.has(n.id))
  const view = new Map(batch.nodes.map((n) => [n.id, n]))
  deps.store.within(AbortSignal.timeout(RECORD_MS))
  try {
    await deps.store.update(
      (doc) => {
        const forest = doc.forests[forestId]
        if (!forest) return UNCHANGED
        if (dropForest) {
          delete doc.forests[forestId]
          delete doc.nodes[forestId]
          return true
        }
        const list = (doc.nodes[forestId] ?? []).filter(keep)
        for (const node of list) {
          const known = view.get(node.id)
          if (!known || !batch.newIds.includes(node.id)) continue
          // A create that threw is failed (the machine may exist); one still under way stays creating.
          Object.assign(node, known, {status: batch.rejected.has(node.id) && !batch.created.has(node.id) ? 'failed' : known.status})
        }
        doc.nodes[forestId] = list
        const update: Partial<ForestRecord> = {note: `${kind} ${outcome}: ${reason}`.slice(0, 300), operation: null}
        if (kind === 'plant') update.status = outcome
        else update.node_count = list.length
        Object.assign(forest, update)
        return true
      },
      {now: true},
    )
    await deps.store.flush()
  } catch (writeError) {
    deps.log.warn(`could not record how the ${kind} of ${forestId} ended: ${(writeError as Error).message}`)
  }
}

function ending(batch: NodeBatch, kind: 'plant' | 'grow', outcome: Outcome, error: unknown, dropped: boolean): MorpheusError {
  const forestId = batch.forest.id
  if (outcome === 'interrupted') {
    if (dropped)
      return new MorpheusError(
        'INTERRUPTED',
        `interrupted: every node of ${forestId} was removed again and the forest is gone from the registry`,
        {details: {forest_id: forestId}},
      )
    return interrupted(
      forestId,
      kind === 'plant'
        ? 'is recorded in the registry as interrupted, with every node that was started'
        : 'keeps its nodes; the new ones that were started are recorded',
    )
  }
  const e =
    error instanceof MorpheusError
      ? error
      : new MorpheusError('UNEXPECTED', error instanceof Error ? error.message : String(error), {cause: error})
  if (dropped)
    return new MorpheusError(e.kind, `${e.message} (every node was removed again; nothing is left)`, {cause: error, details: e.details})
  return e
}
