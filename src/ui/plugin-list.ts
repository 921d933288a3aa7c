/** One installed plugin's provider or registry backend, as `providers` and `registry backends` list it. */
export interface ListedPlugin {
  name: string
  aliases: string[]
  summary: string
  plugin: string
  version: string
  plugin_type: string
  capabilities: object
}

/** Capabilities in a table cell: the true flags, numbers and non-empty lists ("cloud, maxParallel:8, natsModes:embedded/system"). */
export function capabilityList(caps: object): string {
  return Object.entries(caps)
    .filter(([, v]) => v === true || typeof v === 'number' || (Array.isArray(v) && v.length > 0))
    .map(([k, v]) => (Array.isArray(v) ? `${k}:${v.join('/')}` : typeof v === 'number' ? `${k}:${v}` : k))
    .join(', ')
}
