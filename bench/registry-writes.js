#!/usr/bin/env node
// Registry cost of a plant: real local forests (nats-server on loopback) planted through the forest
// engine, with the registry a local file wrapped to add latency to every call and count the calls.
// For N = 1, 5, 20 nodes and a latency of 0 and 30 ms per call: writes, reads, round trips (every
// backend call), conflicts, and the plant's wall time. Target: at most 4 writes and 0 conflicts
// with itself per plant, whatever N. Then a teardown (counted too).
//
// Usage: npm run build && node bench/registry-writes.js [--sizes 1,5,20] [--latency 0,30] [--strict]
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'

const dist = new URL('../dist/', import.meta.url)
const {Plant} = await import(new URL('forest/plant.js', dist))
const {OperationRunner} = await import(new URL('forest/runner.js', dist))
const {teardown} = await import(new URL('forest/teardown.js', dist))
const {RegistryStore} = await import(new URL('registry/store.js', dist))
const {probeAll} = await import(new URL('monitor/nats.js', dist))
const {createRenderer} = await import(new URL('templates/render.js', dist))
const {testContext} = await import(new URL('testing/context.js', dist))
const {instrument} = await import(new URL('testing/memory-registry.js', dist))
const {LocalProvider} = await import(new URL('../plugins/provider-local/dist/local-provider.js', import.meta.url))
const {createFileRegistry} = await import(new URL('../plugins/registry-none/dist/file-registry.js', import.meta.url))

const {values: opts} = parseArgs({options: {latency: {type: 'string'}, sizes: {type: 'string'}, strict: {type: 'boolean'}}})
const sizes = (opts.sizes ?? '1,5,20').split(',').map(Number)
const latencies = (opts.latency ?? '0,30').split(',').map(Number)

const dir = mkdtempSync(join(tmpdir(), 'morpheus-bench-writes-'))
const first = `127.${20 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}.1`
const templates = await createRenderer()
const providerContext = testContext(
  {
    data_dir: join(dir, 'local'),
    first_address: first,
    nats_server: 'nats-server',
    nimsforest_binary: '',
    start_timeout_seconds: 20,
    stop_timeout_seconds: 5,
  },
  {templates},
)
const provider = new LocalProvider(providerContext)
const capabilities = {cloud: false, machineLocal: true, maxParallel: 16, natsModes: ['system', 'embedded']}

function deps(backend) {
  return {
    device: 'bench',
    log: {debug() {}, info() {}, warn: (m) => console.error(`warning: ${m}`)},
    monitor: probeAll,
    progress: {report() {}},
    provider: async () => ({capabilities, name: 'local', provider}),
    secrets: backend.secrets,
    settings: {form_timeout_seconds: 60, nats_mode: 'system', parallel: 5, ports: {client: 4222, cluster: 6222, monitor: 8222}, sizes: {}},
    signal: new AbortController().signal,
    store: new RegistryStore(backend),
  }
}

const rows = []
let missed = false
try {
  for (const latency of latencies) {
    for (const n of sizes) {
      const file = createFileRegistry(testContext({lock_timeout_seconds: 30, path: join(dir, `registry-${latency}-${n}.json`)}))
      const backend = instrument(file, latency)
      const d = deps(backend)
      const started = Date.now()
      const {result} = await new OperationRunner({signal: d.signal}).run(
        await Plant.prepare(d, {nodes: n, provider: 'local', size: 'custom'}),
      )
      const ms = Date.now() - started
      const plant = {...backend.counts}
      const roundTrips = plant.reads + plant.writes + plant.probes
      const td = deps(backend)
      const before = {...backend.counts}
      await teardown(td, {forestId: result.forest.id})
      const down = {reads: backend.counts.reads - before.reads, writes: backend.counts.writes - before.writes}
      const ok = plant.writes <= 4 && plant.conflicts === 0
      if (!ok) missed = true
      rows.push({
        conflicts: plant.conflicts,
        latency_ms: latency,
        nodes: n,
        plant_ms: ms,
        reads: plant.reads,
        round_trips: roundTrips,
        target_met: ok,
        teardown_writes: down.writes,
        writes: plant.writes,
      })
    }
  }
} finally {
  rmSync(dir, {force: true, recursive: true})
}

const header = ['nodes', 'latency_ms', 'writes', 'reads', 'round_trips', 'conflicts', 'plant_ms', 'teardown_writes', 'target_met']
console.log(header.join('\t'))
for (const r of rows) console.log(header.map((h) => r[h]).join('\t'))
console.log(JSON.stringify({rows, target: 'writes <= 4 and conflicts == 0 per plant'}))
if (missed && opts.strict) process.exit(1)
