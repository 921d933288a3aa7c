import type {NodeVersions} from '../plugin-api/index.js'

/** Versions in words: `nats-server 2.10.24, NimsForest https://...`. */
export function describeVersions(v: NodeVersions | undefined | null): string {
  if (!v) return 'not recorded'
  const parts = [
    v.nats ? `nats-server ${v.nats}${v.nats_source && v.nats_source.startsWith('/') ? ` (${v.nats_source})` : ''}` : '',
    v.nimsforest ? `NimsForest ${v.nimsforest}` : '',
  ].filter(Boolean)
  return parts.length > 0 ? parts.join(', ') : 'not recorded'
}
