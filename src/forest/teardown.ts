import {MorpheusError, asUnexpected} from '../errors.js'
import {pluginMessage} from '../plugins/guard.js'
import type {ForestRecord, NodeRecord} from '../plugin-api/index.js'
import {findForest} from '../registry/document.js'
import {UNCHANGED} from '../registry/store.js'
import {loadProvider, type ForestDeps, type ProviderHandle} from './deps.js'
import {operation} from './operation.js'
import {statusInterval} from './batch.js'
import {elsewhereError, otherDevice} from './ownership.js'
import {mapLimit} from './util.js'
import {plural} from '../words.js'

export interface TeardownRequest {
  forestId: string
  /** On another device's machine-local forest: drop only the registry entry. */
  force?: boolean
}

export interface TeardownResult {
  forest_id: string
  provider: string
  /** Nodes the registry listed that were removed. */
  removed: string[]
  /** Machines the provider had for this forest that the registry did not list, removed too. */
  orphans_removed: string[]
  /** True when only the registry entry was dropped (--force on another device's forest). */
  entry_only: boolean
}

async function dropEntry(deps: ForestDeps, forestId: string): Promise<void> {
  await deps.store.update(
    (d) => {
      if (!(forestId in d.forests) && !(forestId in d.nodes)) return UNCHANGED
      delete d.forests[forestId]
      delete d.nodes[forestId]
      return true
    },
    {now: true},
  )
  await deps.secrets?.delete(forestId)
}

/**
 * Remove a forest: mark it, destroy every node the registry lists and every machine the
 * provider still has for it, dropping nodes from the registry as they go (batched), then the
 * forest-wide resources, then the entry and its secrets. Any failure leaves the forest in the
 * registry with the nodes that remain, and the command fails, so running it again finishes.
 */
export async function teardown(deps: ForestDeps, request: TeardownRequest): Promise<TeardownResult> {
  const forestId = request.forestId
  const doc = await deps.store.read()
  const forest = findForest(doc, forestId)
  let handle: ProviderHandle | undefined
  try {
    handle = await loadProvider(deps, forest.provider)
  } catch (error) {
    if (!(request.force && forest.device && forest.device !== deps.device)) throw error
  }
  const elsewhere = otherDevice(forest, handle?.capabilities, deps.device)
  if (elsewhere) {
    if (!request.force) throw elsewhereError(forest, elsewhere, 'tearing it down')
    deps.log.warn(
      `forest ${forestId} runs on device ${elsewhere}: removing only its registry entry; its processes there keep running until stopped on ${elsewhere}`,
    )
    await dropEntry(deps, forestId)
    return {entry_only: true, forest_id: forestId, orphans_removed: [], provider: forest.provider, removed: []}
  }
  const {provider, name} = handle!
  // Nodes are dropped from the registry as they go, batched like a plant's status changes.
  deps.store.pace(statusInterval(handle!.capabilities))

  await deps.store.update(
    (d) => {
      const f = d.forests[forestId]
      if (!f) return UNCHANGED
      f.status = 'tearing_down'
      f.operation = operation('teardown', deps.device)
      for (const n of d.nodes[forestId] ?? []) n.status = 'deleting'
      return true
    },
    {now: true},
  )

  const listed: NodeRecord[] = doc.nodes[forestId] ?? []
  let orphans: NodeRecord[] = []
  try {
    const actual = await provider.listNodes(forestId, deps.signal)
    orphans = actual
      .filter((m) => !listed.some((n) => n.id === m.id))
      .map((m) => ({
        created_at: new Date(0).toISOString(),
        forest_id: forestId,
        id: m.id,
        ip: '',
        provider_ref: m.provider_ref,
        role: 'edge',
        status: 'deleting',
      }))
  } catch (error) {
    deps.log.warn(
      `could not list provider ${name}'s machines for ${forestId} (${pluginMessage(error)}); removing the nodes the registry lists`,
    )
  }
  if (orphans.length > 0)
    deps.progress.report(`${plural(orphans.length, 'machine')} the registry did not list: ${orphans.map((o) => o.id).join(', ')}`)

  const all = [...listed, ...orphans]
  const drops: Array<Promise<unknown>> = []
  const results = await mapLimit(all, 5, async (node) => {
    if (deps.signal.aborted) throw new MorpheusError('INTERRUPTED', 'interrupted')
    deps.progress.report(`${node.id}: removing`)
    await provider.destroyNode(node, forest as ForestRecord, deps.signal)
    const drop = deps.store.update((d) => {
      const list = d.nodes[forestId]
      if (!list || !list.some((n) => n.id === node.id)) return UNCHANGED
      d.nodes[forestId] = list.filter((n) => n.id !== node.id)
      return true
    })
    drop.catch(() => undefined)
    drops.push(drop)
    deps.progress.report(`${node.id}: removed`)
    return node.id
  })
  await deps.store.flush()
  await Promise.all(drops)
  const failures = results.map((r, i) => ({node: all[i], r})).filter((x) => x.r.status === 'rejected')
  const clear = () =>
    deps.store
      .update(
        (d) => {
          const f = d.forests[forestId]
          if (!f?.operation) return UNCHANGED
          f.operation = null
          return true
        },
        {now: true},
      )
      .catch(() => undefined)
  if (failures.length > 0) {
    await clear()
    if (deps.signal.aborted) {
      throw new MorpheusError('INTERRUPTED', `interrupted: ${forestId} is recorded as tearing_down, with the nodes not yet removed`, {
        hint: `Run \`morpheus teardown ${forestId} --yes\` again to finish.`,
      })
    }
    const reason = (failures[0].r as PromiseRejectedResult).reason
    // destroyNode's errors name the provider and the node already (src/plugins/guard.ts).
    const error = asUnexpected(reason)
    throw new MorpheusError(
      error.kind,
      `${failures.length} of ${plural(all.length, 'node')} of ${forestId} could not be removed; ${error.message}`,
      {
        cause: reason,
        details: {forest_id: forestId, not_removed: failures.map((f) => f.node.id)},
        hint: `The registry still lists them. Run \`morpheus teardown ${forestId} --yes\` again once the cause is fixed.`,
      },
    )
  }
  try {
    await provider.destroyForest?.(forest, deps.signal)
  } catch (error) {
    await clear()
    const e = asUnexpected(error)
    throw new MorpheusError(e.kind, `every node of ${forestId} is gone, but the forest-wide clean-up failed; ${e.message}`, {
      cause: error,
      hint: e.hint ?? `The registry still lists the forest. Run \`morpheus teardown ${forestId} --yes\` again once the cause is fixed.`,
    })
  }
  await dropEntry(deps, forestId)
  return {
    entry_only: false,
    forest_id: forestId,
    orphans_removed: orphans.map((o) => o.id),
    provider: forest.provider,
    removed: listed.map((n) => n.id),
  }
}
