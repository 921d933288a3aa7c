/** "1 node", "3 nodes": a count with its noun in the right number. */
export function plural(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`
}

/**
 * The warning for an even node count: JetStream needs a majority, so an even forest survives
 * no more failed nodes than one node fewer would (2 nodes: none; 4: one, as with 3).
 */
export function evenCountWarning(nodes: number): string | undefined {
  if (nodes % 2 !== 0) return undefined
  const majority = nodes / 2 + 1
  const survives = nodes - majority
  return `${plural(nodes, 'node')}: JetStream needs a majority (${majority}), so this forest survives ${survives === 0 ? 'no failed node' : plural(survives, 'failed node')}, no more than ${plural(nodes - 1, 'node')} would`
}
