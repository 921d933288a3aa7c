import type {ForestRecord, NodeRecord, RegistryDocument} from '../plugin-api/index.js'

/**
 * Consistency beyond the schema (`registry verify`): only what a well-behaved Morpheus never leaves
 * behind and what can hurt, never what is normal.
 *
 * Normal, so never reported: node ids repeating across forests (ids are per forest: every forest
 * has its node-1), one address in forests of different providers (a Hetzner address and a local
 * one live in different worlds), and one loopback address in local forests of different devices
 * (each device has its own 127.0.0.0/8). Nodes that are failed or being deleted hold nothing.
 *
 * Problems: two live nodes of one provider (and, for a machine-local provider, one device) reached
 * at the same address (probe_address, else ip) and client port, or with the same provider handle
 * (provider_ref): one of the two records is wrong, `status` of one forest would show the other's
 * node, and a teardown of one forest could stop the other forest's node. And an active forest
 * without nodes.
 */
export interface Consistency {
  problems: string[]
  warnings: string[]
}

/** Statuses of a node that holds its address (reserved: the provider picked it for this node). */
const LIVE = new Set(['reserved', 'creating', 'starting', 'active'])

/** Where a forest's nodes live: its provider, and for a machine-local provider (which records a device) that device. */
function place(forest: ForestRecord | undefined): string {
  if (!forest) return '?'
  return forest.device ? `${forest.provider}@${forest.device}` : forest.provider
}

function where(forest: ForestRecord | undefined): string {
  if (!forest) return ''
  return forest.device ? ` (provider ${forest.provider}, device ${forest.device})` : ` (provider ${forest.provider})`
}

export function consistencyProblems(doc: RegistryDocument): Consistency {
  const problems: string[] = []
  const warnings: string[] = []
  const addresses = new Map<string, string>()
  const handles = new Map<string, string>()
  const claim = (map: Map<string, string>, key: string, holder: string, describe: (other: string) => string) => {
    const other = map.get(key)
    if (other === undefined) map.set(key, holder)
    else problems.push(describe(other))
  }
  for (const [forestId, nodes] of Object.entries(doc.nodes)) {
    const forest = doc.forests[forestId]
    const at = place(forest)
    for (const n of nodes) {
      if (!LIVE.has(n.status)) continue
      const holder = `${forestId}/${n.id}`
      // Where Morpheus reaches the node: a private route address may repeat in another forest's network, the probe address may not.
      const address = n.probe_address || n.ip
      if (address) {
        const port = n.ports?.client ?? forest?.ports?.client
        claim(
          addresses,
          `${at} ${address}:${port ?? ''}`,
          holder,
          (other) => `address ${address}${port ? ` port ${port}` : ''} is used by both ${other} and ${holder}${where(forest)}`,
        )
      }
      if (n.provider_ref)
        claim(
          handles,
          `${at} ${n.provider_ref}`,
          holder,
          (other) => `${other} and ${holder} are the same machine (provider_ref ${n.provider_ref})${where(forest)}`,
        )
    }
  }
  for (const f of Object.values(doc.forests)) {
    const nodes: NodeRecord[] = doc.nodes[f.id] ?? []
    if (f.status === 'active' && nodes.length === 0) problems.push(`forest ${f.id} is active but has no nodes`)
    const notActive = nodes.filter((n) => n.status !== 'active').length
    if (f.status === 'active' && notActive > 0) warnings.push(`forest ${f.id} is active but ${notActive} of its nodes are not`)
    if (f.operation)
      warnings.push(
        `forest ${f.id}: a ${f.operation.kind} started ${f.operation.started_at} on ${f.operation.device} (pid ${f.operation.pid}) has not finished`,
      )
  }
  return {problems, warnings}
}

/**
 * What to do about consistency problems. They describe machines, not a damaged file: an older
 * revision would describe the same machines less accurately, so the hint never sends anyone there.
 */
export const CONSISTENCY_HINT =
  'These records describe machines, so restoring an older revision would not fix them: look at each forest named with `morpheus status <forest>`, ' +
  'then remove the one that should not be there with `morpheus teardown <forest> --yes`, or correct the record by hand where the document is stored.'

/** What to do about a document that fails the schema (not JSON, a wrong field): that is damage, which an older revision may not have. */
export const SCHEMA_HINT =
  'Fix them by hand, or go back to a sound revision: `morpheus registry history`, then `morpheus registry restore <revision>`.'
