import type {NodeRecord, NodeVersions} from '../plugin-api/index.js'

/** Versions in words: `nats-server 2.10.24, NimsForest https://...`. */
export function describeVersions(v: NodeVersions | undefined | null): string {
  if (!v) return 'not recorded'
  const parts = [v.nats ? `nats-server ${v.nats}${v.nats_source && v.nats_source.startsWith('/') ? ` (${v.nats_source})` : ''}` : '', v.nimsforest ? `NimsForest ${v.nimsforest}` : ''].filter(Boolean)
  return parts.length > 0 ? parts.join(', ') : 'not recorded'
}

/** The same build? Compares what both name (a field one of them lacks does not count). */
export function sameVersions(a: NodeVersions | undefined, b: NodeVersions | undefined): boolean {
  if (!a || !b) return false
  return (!a.nats || !b.nats || a.nats === b.nats) && (!a.nimsforest || !b.nimsforest || a.nimsforest === b.nimsforest) && Boolean(a.nats || a.nimsforest)
}

/** Which nodes run which version, in words: `2.10.24: node-1, node-2; 2.11.0: node-3`. */
export function versionsByNode(nodes: readonly Pick<NodeRecord, 'id' | 'versions'>[], live: ReadonlyMap<string, string | undefined> = new Map()): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const n of nodes) {
    const key = live.get(n.id) ?? n.versions?.nats ?? n.versions?.nimsforest ?? 'unknown'
    ;(out[key] ??= []).push(n.id)
  }
  return out
}
