import {MorpheusError, fromPluginError} from '../errors.js'
import type {ForestRecord, NodeRecord} from '../plugin-api/index.js'
import {findForest} from '../registry/document.js'
import {readRegistry, updateRegistry, UNCHANGED} from '../registry/update.js'
import type {Runtime} from '../runtime.js'
import type {Report} from './plant.js'
import {mapLimit} from './util.js'

export interface TeardownResult {
  forest_id: string
  provider: string
  removed: string[]
  /** Machines the provider had for this forest that the registry did not list. */
  orphans_removed: string[]
}

/**
 * Remove a forest: mark it, destroy every node the registry lists and every machine the
 * provider still has for it, dropping each node from the registry as it goes, then the
 * forest itself. A failure leaves the forest in the registry with the nodes that remain,
 * so running teardown again finishes the job.
 */
export async function teardown(runtime: Runtime, forestId: string, report: Report): Promise<TeardownResult> {
  const {backend} = await runtime.registry()
  const {doc} = await readRegistry(backend)
  const forest = findForest(doc, forestId)
  const {provider} = await runtime.provider(forest.provider)

  await updateRegistry(backend, (d) => {
    const f = d.forests[forestId]
    if (!f) return UNCHANGED
    f.status = 'tearing_down'
    for (const n of d.nodes[forestId] ?? []) n.status = 'deleting'
    return true
  })

  const listed: NodeRecord[] = doc.nodes[forestId] ?? []
  let orphans: NodeRecord[] = []
  try {
    const actual = await provider.listNodes(forestId)
    orphans = actual
      .filter((m) => !listed.some((n) => n.id === m.id))
      .map((m) => ({created_at: new Date(0).toISOString(), forest_id: forestId, id: m.id, ip: '', provider_ref: m.provider_ref, role: 'edge', status: 'deleting'}))
  } catch (error) {
    report(`could not list the provider's machines for ${forestId} (${(error as Error).message}); removing the nodes the registry lists`)
  }

  const all = [...listed, ...orphans]
  const results = await mapLimit(all, 5, async (node) => {
    report(`${node.id}: removing`)
    await provider.destroyNode(node, forest as ForestRecord)
    await updateRegistry(backend, (d) => {
      const list = d.nodes[forestId]
      if (!list || !list.some((n) => n.id === node.id)) return UNCHANGED
      d.nodes[forestId] = list.filter((n) => n.id !== node.id)
      return true
    })
    report(`${node.id}: removed`)
    return node.id
  })
  const failures = results.map((r, i) => ({node: all[i], r})).filter((x) => x.r.status === 'rejected')
  if (failures.length > 0) {
    const reason = (failures[0].r as PromiseRejectedResult).reason
    const error = fromPluginError(reason, `provider ${forest.provider}: ${failures[0].node.id}`, 'PROVIDER')
    throw new MorpheusError(error.kind, `${failures.length} node(s) of ${forestId} could not be removed; ${error.message}`, {
      cause: reason,
      hint: `The registry still lists them. Run \`morpheus teardown ${forestId} --yes\` again once the cause is fixed.`,
    })
  }
  try {
    await provider.destroyForest?.(forest)
  } catch (error) {
    const e = fromPluginError(error, `provider ${forest.provider}`, 'PROVIDER')
    throw new MorpheusError(e.kind, `every node of ${forestId} is gone, but the forest-wide clean-up failed; ${e.message}`, {
      cause: error,
      hint: e.hint ?? `The registry still lists the forest. Run \`morpheus teardown ${forestId} --yes\` again once the cause is fixed.`,
    })
  }
  await updateRegistry(backend, (d) => {
    if (!(forestId in d.forests) && !(forestId in d.nodes)) return UNCHANGED
    delete d.forests[forestId]
    delete d.nodes[forestId]
    return true
  })
  return {
    forest_id: forestId,
    orphans_removed: orphans.map((o) => o.id),
    provider: forest.provider,
    removed: listed.map((n) => n.id),
  }
}
