#!/usr/bin/env node
// Benchmarks of the storagebox registry on each real WebDAV server, Apache mod_dav and nginx dav-ext with
// dav_ext_lock (run `npm run build` first; needs apache2, nginx and libnginx-mod-http-dav-ext):
//   10 x 10   10 separate processes each making 10 updates through the core's read-modify-write loop (built
//             dist/) and the storagebox backend: committed updates per second (wall time of the whole run),
//             conflicts retried, and a check that all 100 are present. Also 1 x 20 (one writer, no contention).
//   plant     `morpheus plant local --nodes 5 --json` then teardown, with the registry on the server behind a counting
//             proxy: document writes (PUTs of registry.json), locks, and every WebDAV round trip, per command.
// Target: 10 x 10 >= 10 committed updates/s on every server. Prints a table per server, then one JSON line
// (the last line of stdout: {servers: {<name>: results}, target_met}). Every server and process it starts is
// ended by its pid (never by name). Loopback only (127.0.70.x, 127.0.71.x).
//
// Usage: node bench/registry.js [--rounds 3] [--no-plant] [--strict] [--server apache|nginx]
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {cpus, loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

import {startFaultProxy} from '../test/fixtures/webdav/fault-proxy.js'
import {webdavServers} from '../test/fixtures/webdav/servers.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const WORKER = join(ROOT, 'test', 'fixtures', 'webdav', 'update-worker.js')
const BIN = join(ROOT, 'bin', 'run.js')
const TARGET_PER_SECOND = 10

const opts = parseArgs({
  options: {'no-plant': {type: 'boolean'}, rounds: {type: 'string'}, server: {type: 'string'}, strict: {type: 'boolean'}},
}).values
const rounds = Number(opts.rounds ?? 3)

function run(cmd, args, env, timeoutMs = 300_000) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {env, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stderr, stdout})
    })
  })
}

async function writers(apache, folder, processes, updates) {
  const url = `${apache.origin}/${folder}/registry.json`
  const env = {MORPHEUS_DAV_PASSWORD: apache.password, MORPHEUS_DAV_USER: apache.username, PATH: process.env.PATH}
  const made = await fetch(`${apache.origin}/${folder}/`, {
    headers: {authorization: `Basic ${Buffer.from(`${apache.username}:${apache.password}`).toString('base64')}`},
    method: 'MKCOL',
  })
  if (made.status !== 201) throw new Error(`MKCOL /${folder}/ answered ${made.status}`)
  const started = performance.now()
  const results = await Promise.all(
    Array.from({length: processes}, (_, i) => run(process.execPath, [WORKER, url, String(i), String(updates)], env)),
  )
  const ms = performance.now() - started
  const failed = results.filter((r) => r.code !== 0)
  if (failed.length > 0) throw new Error(`a writer failed: ${failed[0].stderr}`)
  const doc = JSON.parse(readFileSync(join(apache.root, folder, 'registry.json'), 'utf8'))
  const present = Object.keys(doc.forests).length
  const conflicts = results.reduce((n, r) => n + JSON.parse(r.stdout).conflicts, 0)
  return {
    conflicts,
    ms: Math.round(ms),
    per_second: Number(((processes * updates) / (ms / 1000)).toFixed(1)),
    present,
    updates: processes * updates,
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const cleanup = []
let apache
process.on('SIGINT', () => {
  for (const c of cleanup.reverse()) c()
  apache?.stop()
  process.exit(130)
})

/** Every figure on one server. */
async function benchServer(kind) {
  const results = {load_before: loadavg()[0], cpus: cpus().length}
  const contended = []
  for (let r = 0; r < rounds; r++) contended.push(await writers(apache, `c${r}`, 10, 10))
  const single = await writers(apache, 'single', 1, 20)
  results.ten_by_ten = {median_per_second: median(contended.map((c) => c.per_second)), rounds: contended}
  results.one_by_twenty = single
  console.log(`registry on ${kind.name} (storagebox backend, WebDAV LOCK + content hash)`)
  console.log(
    `  10 x 10: ${contended.map((c) => `${c.per_second}/s (${c.present}/100 present, ${c.conflicts} conflicts retried, ${c.ms} ms)`).join('; ')}`,
  )
  console.log(`           median ${results.ten_by_ten.median_per_second}/s (target >= ${TARGET_PER_SECOND}/s)`)
  console.log(`  1 x 20:  ${single.per_second}/s (${single.present}/20 present)`)

  if (!opts['no-plant']) {
    const proxy = await startFaultProxy(apache.origin)
    cleanup.push(() => proxy.close())
    const dir = mkdtempSync(join(tmpdir(), 'morpheus-bench-registry-'))
    cleanup.push(() => rmSync(dir, {force: true, recursive: true}))
    const first = `127.${10 + Math.floor(Math.random() * 240)}.${Math.floor(Math.random() * 250)}.1`
    writeFileSync(
      join(dir, 'config.yaml'),
      `registry:\n  type: storagebox\n  url: ${proxy.origin}/plant/registry.json\n  username: ${apache.username}\n  password: \${SB_PASSWORD}\nproviders:\n  local:\n    first_address: ${first}\n    data_dir: ${join(dir, 'local')}\n`,
    )
    const env = {
      CI: 'true',
      HOME: dir,
      MORPHEUS_CACHE_DIR: join(dir, 'cache'),
      MORPHEUS_CONFIG: join(dir, 'config.yaml'),
      MORPHEUS_DATA_DIR: join(dir, 'data'),
      PATH: process.env.PATH,
      SB_PASSWORD: apache.password,
    }
    const init = await run(process.execPath, [BIN, 'registry', 'init', '--yes', '--json'], env)
    if (init.code !== 0) throw new Error(`registry init failed: ${init.stderr}`)
    const count = (from) => {
      const seen = proxy.state.seen.slice(from)
      return {
        document_writes: seen.filter((s) => /^PUT \/plant\/registry\.json$/.test(s)).length,
        locks: seen.filter((s) => s.startsWith('LOCK ')).length,
        reads: seen.filter((s) => /^GET \/plant\/registry\.json$/.test(s)).length,
        round_trips: seen.length,
      }
    }
    let mark = proxy.state.seen.length
    const t0 = performance.now()
    const plant = await run(process.execPath, [BIN, 'plant', 'local', '--nodes', '5', '--json'], env)
    const plantMs = Math.round(performance.now() - t0)
    if (plant.code !== 0) throw new Error(`plant failed: ${plant.stderr}`)
    const plantCounts = {...count(mark), ms: plantMs}
    const id = JSON.parse(plant.stdout).forest.id
    mark = proxy.state.seen.length
    const t1 = performance.now()
    const down = await run(process.execPath, [BIN, 'teardown', id, '--yes', '--json'], env)
    const downMs = Math.round(performance.now() - t1)
    if (down.code !== 0) throw new Error(`teardown failed: ${down.stderr}`)
    results.plant_5_nodes = plantCounts
    results.teardown_5_nodes = {...count(mark), ms: downMs}
    console.log(
      `  plant 5 nodes:    ${plantCounts.document_writes} document writes, ${plantCounts.locks} locks, ${plantCounts.reads} document reads, ${plantCounts.round_trips} WebDAV round trips (${plantMs} ms)`,
    )
    const t = results.teardown_5_nodes
    console.log(
      `  teardown 5 nodes: ${t.document_writes} document writes, ${t.locks} locks, ${t.reads} document reads, ${t.round_trips} WebDAV round trips (${t.ms} ms)`,
    )
  }
  results.load_after = loadavg()[0]
  results.target_met = results.ten_by_ten.median_per_second >= TARGET_PER_SECOND
  console.log(`  load average ${results.load_before.toFixed(1)} -> ${results.load_after.toFixed(1)} on ${results.cpus} CPUs`)
  return results
}

const all = {servers: {}}
for (const kind of webdavServers(opts.server)) {
  apache = await kind.start()
  try {
    all.servers[kind.name] = await benchServer(kind)
  } finally {
    for (const c of cleanup.splice(0).reverse()) await c()
    apache.stop()
    apache = undefined
  }
}
all.target_met = Object.values(all.servers).every((r) => r.target_met)
console.log(JSON.stringify(all))
if (opts.strict && !all.target_met) process.exitCode = 1
