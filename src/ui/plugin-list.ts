/** A plugin as `morpheus providers` and `morpheus registry backends` list it. */
export interface ListedPlugin {
  name: string
  aliases: string[]
  summary: string
  plugin: string
  version: string
  plugin_type: string
  capabilities: object
}

/** The capabilities column: true flags by name, numbers and lists as name:value. */
export function capabilityList(caps: object): string {
  return Object.entries(caps)
    .filter(([, v]) => v === true || typeof v === 'number' || (Array.isArray(v) && v.length > 0))
    .map(([k, v]) => (Array.isArray(v) ? `${k}:${v.join('/')}` : typeof v === 'number' ? `${k}:${v}` : k))
    .join(', ')
}
