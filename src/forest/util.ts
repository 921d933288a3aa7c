import type {RegistryDocument} from '../plugin-api/index.js'

// mapLimit lives in the base layer (src/map-limit.ts) so src/plugins/helpers.ts can use it too; the engine imports it from here.
export {mapLimit} from '../map-limit.js'

/** A new forest id in the seeds' shape (forest-<unix seconds>), made unique against the document. */
export function newForestId(doc: RegistryDocument, now: Date): string {
  const base = `forest-${Math.floor(now.getTime() / 1000)}`
  if (!(base in doc.forests)) return base
  for (let i = 2; ; i++) if (!(`${base}-${i}` in doc.forests)) return `${base}-${i}`
}

/** The next `count` node ids of a forest: node-1, node-2, ... continuing after the highest in use. */
export function nextNodeIds(existing: ReadonlyArray<{id: string}>, count: number): string[] {
  const used = existing
    .map((n) => /^node-(\d+)$/.exec(n.id))
    .filter(Boolean)
    .map((m) => Number(m![1]))
  const start = used.length > 0 ? Math.max(...used) + 1 : 1
  return Array.from({length: count}, (_, i) => `node-${start + i}`)
}
