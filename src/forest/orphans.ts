import {MorpheusError, asUnexpected} from '../errors.js'
import type {OrphanResource} from '../plugin-api/index.js'
import {loadProvider, type ForestDeps, type ProviderHandle} from './deps.js'

export interface OrphanSearch {
  handle: ProviderHandle
  orphans: OrphanResource[]
}

export interface OrphansResult {
  provider: string
  /** Everything found that belongs to no forest in the registry. */
  orphans: OrphanResource[]
  /** What was deleted (empty on a dry run). */
  removed: OrphanResource[]
  dry_run: boolean
}

/**
 * What a provider made for Morpheus that belongs to no forest. Safe while other devices plant:
 * a forest is claimed in the registry before any of its resources exist, so after the provider's
 * listing the registry is read again, and anything whose forest is recorded by then is not an orphan.
 */
export async function findOrphans(deps: ForestDeps, providerName: string): Promise<OrphanSearch> {
  const handle = await loadProvider(deps, providerName)
  const {provider} = handle
  if (!provider.orphans || !provider.destroyOrphan) {
    throw new MorpheusError('USAGE', `provider ${handle.name} cannot look for orphaned resources`, {
      hint: "Only providers that label what they create can (the hetzner provider does). A local forest's processes stop with `morpheus teardown <forest>`.",
    })
  }
  const before = await knownForests(deps)
  const found = await provider.orphans(before, deps.signal)
  const after = new Set(await knownForests(deps))
  return {handle, orphans: found.filter((o) => !(o.forest && after.has(o.forest)))}
}

async function knownForests(deps: ForestDeps): Promise<string[]> {
  const doc = await deps.store.read()
  return [...new Set([...Object.keys(doc.forests), ...Object.keys(doc.nodes)])]
}

/**
 * Delete orphans one by one, in the order the provider listed them (what holds others first).
 * One that fails does not stop the rest; if any failed, the error names them all afterwards, so a
 * re-run (which finds only what is left) finishes.
 */
export async function removeOrphans(deps: ForestDeps, search: OrphanSearch): Promise<OrphanResource[]> {
  const {handle, orphans} = search
  const removed: OrphanResource[] = []
  const failed: string[] = []
  for (const orphan of orphans) {
    if (deps.signal.aborted) break
    try {
      await handle.provider.destroyOrphan!(orphan, deps.signal)
      removed.push(orphan)
      deps.progress.report(`removed ${orphan.kind} ${orphan.name}`)
    } catch (error) {
      failed.push(`${orphan.kind} ${orphan.name}: ${asUnexpected(error).message}`)
    }
  }
  if (deps.signal.aborted && removed.length + failed.length < orphans.length) {
    throw new MorpheusError('INTERRUPTED', `interrupted after removing ${removed.length} of ${orphans.length} orphaned resources`, {
      hint: 'Run `morpheus teardown --orphans --yes` again to remove the rest.',
    })
  }
  if (failed.length > 0) {
    throw new MorpheusError('PROVIDER', `could not remove ${failed.length} of ${orphans.length} orphaned resources: ${failed.join('; ')}`, {
      details: {removed: removed.map((o) => `${o.kind} ${o.name}`)},
      hint: 'Run `morpheus teardown --orphans --yes` again: it finds only what is left.',
    })
  }
  return removed
}
