/** Labels Morpheus puts on every resource it makes, and the selectors that find them again. */
export const MANAGED = 'managed-by'
export const MORPHEUS = 'morpheus'

export function forestLabels(forestId: string): Record<string, string> {
  return {[MANAGED]: MORPHEUS, forest: forestId}
}

export function nodeLabels(forestId: string, nodeId: string, role: string): Record<string, string> {
  return {...forestLabels(forestId), node: nodeId, role}
}

export function forestSelector(forestId: string): string {
  return `${MANAGED}=${MORPHEUS},forest=${forestId}`
}

export function nodeSelector(forestId: string, nodeId: string): string {
  return `${forestSelector(forestId)},node=${nodeId}`
}

export const managedSelector = `${MANAGED}=${MORPHEUS}`

/** Server and resource names: RFC 1123 labels (lower case letters, digits, hyphens; at most 63). */
export function resourceName(...parts: string[]): string {
  return parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
}
