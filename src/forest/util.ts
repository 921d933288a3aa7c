import type {RegistryDocument} from '../plugin-api/index.js'

/** Run fn over items with at most `limit` at once; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      try {
        results[i] = {status: 'fulfilled', value: await fn(items[i], i)}
      } catch (error) {
        results[i] = {reason: error, status: 'rejected'}
      }
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(limit, items.length))}, worker))
  return results
}

/** A new forest id in the seeds' shape (forest-<unix seconds>), made unique against the document. */
export function newForestId(doc: RegistryDocument, now: Date): string {
  const base = `forest-${Math.floor(now.getTime() / 1000)}`
  if (!(base in doc.forests)) return base
  for (let i = 2; ; i++) if (!(`${base}-${i}` in doc.forests)) return `${base}-${i}`
}

/** The next `count` node ids of a forest: node-1, node-2, ... continuing after the highest in use. */
export function nextNodeIds(existing: ReadonlyArray<{id: string}>, count: number): string[] {
  const used = existing.map((n) => /^node-(\d+)$/.exec(n.id)).filter(Boolean).map((m) => Number(m![1]))
  const start = used.length > 0 ? Math.max(...used) + 1 : 1
  return Array.from({length: count}, (_, i) => `node-${start + i}`)
}
