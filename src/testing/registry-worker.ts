/**
 * One process of the registry conformance kit's concurrency test: builds its own backend from
 * the plugin's module and adds M forests, one write each, through the core's store.
 * Usage: node registry-worker.js <module URL> <argument> <process number> <M> <start at (ms)>
 */
import {RegistryStore} from '../registry/store.js'

const [moduleUrl, arg, p, m, startAt] = process.argv.slice(2)
const {createBackend} = (await import(moduleUrl)) as {
  createBackend: (arg: string) => Promise<import('../plugin-api/index.js').RegistryBackend>
}
const backend = await createBackend(arg)
while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 5))
const store = new RegistryStore(backend, {conflictAttempts: 500, conflictBaseMs: 5, conflictMaxMs: 200})
for (let i = 0; i < Number(m); i++) {
  const id = `kit-${p}-${i}`
  await store.update(
    (doc) => {
      doc.forests[id] = {
        created_at: new Date().toISOString(),
        id,
        last_expansion: null,
        node_count: 0,
        provider: 'kit',
        size: 'kit',
        status: 'active',
      }
      doc.nodes[id] = []
    },
    {now: true},
  )
}
process.stdout.write(JSON.stringify({conflicts: store.stats.conflicts, writes: store.stats.writes}) + '\n')
