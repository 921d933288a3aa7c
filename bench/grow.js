#!/usr/bin/env node
// Benchmark of `morpheus grow` on a wide forest whose monitoring is slow (run `npm run build` first).
//
// It starts fake NATS monitoring servers on loopback (127.0.90.0/24), each answering /varz, /routez, /healthz
// and /jsz after --delay ms (200 by default) with the JSON nats-server gives, and writes a registry holding a
// forest of --nodes nodes (20) and a forest of one node, all pointing at those servers. Then it runs the built
// CLI, interleaved, N times each (--runs, default 7, after one warm-up):
//   grow <wide> --auto --dry-run --json    and    grow <one> --auto --dry-run --json
// and reports the median wall time of each and their ratio (target: wide / one <= 1.5). It also times the
// monitoring phase alone, in process (observeForest from dist/), for both forests, and what a one-node-at-a-time
// client would take (nodes x delay).
// The decision is checked on every run (no_action, below_threshold; every node reachable), so a bench that
// measures timeouts instead of answers fails. Prints a table, then one JSON line (the last line of stdout).
// Exits 1 when the target is missed only with --strict; always 1 when the bench itself fails.
//
// Usage: node bench/grow.js [--nodes 20] [--delay 200] [--runs 7] [--strict]
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {cpus, loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(ROOT, 'bin', 'run.js')
const TARGET_RATIO = 1.5

const {values: opts} = parseArgs({
  options: {delay: {type: 'string'}, nodes: {type: 'string'}, runs: {type: 'string'}, strict: {type: 'boolean'}},
})
const NODES = Number(opts.nodes ?? 20)
const DELAY = Number(opts.delay ?? 200)
const RUNS = Number(opts.runs ?? 7)
if (![NODES, DELAY, RUNS].every((n) => Number.isInteger(n) && n > 0) || NODES > 250) {
  console.error('usage: node bench/grow.js [--nodes 1..250] [--delay MS] [--runs N] [--strict]')
  process.exit(2)
}
if (!existsSync(join(ROOT, 'dist', 'commands', 'grow.js'))) {
  console.error('bench: the CLI is not built: run `npm run build` first')
  process.exit(2)
}

// ---- fake monitoring servers (bench/grow-servers.js, a child process) ------------------------------------------
const children = new Set()
const SANDBOX = mkdtempSync(join(tmpdir(), 'morpheus-bench-grow-'))

/** Ends every process the bench started, by pid, and removes the sandbox. Synchronous: runs from signal handlers. */
function cleanup() {
  for (const child of children) {
    try {
      process.kill(child.pid, 'SIGKILL')
    } catch {
      // gone
    }
  }
  children.clear()
  rmSync(SANDBOX, {force: true, recursive: true})
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    cleanup()
    process.exit(130)
  })
}

/** One fake server per address, all on one port (as real nodes on distinct addresses); tries a few ports. */
async function serve(specs) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000)
    const child = spawn(process.execPath, [join(ROOT, 'bench', 'grow-servers.js'), String(port), String(DELAY), ...specs], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    children.add(child)
    const line = await new Promise((resolve) => {
      let out = ''
      child.stdout.on('data', (d) => {
        out += d
        if (out.includes('\n')) resolve(out.trim())
      })
      child.on('exit', () => resolve(out.trim() || 'exited'))
    })
    if (line === 'ready') return port
    children.delete(child)
    try {
      process.kill(child.pid, 'SIGKILL')
    } catch {
      // gone
    }
  }
  throw new Error('no port free on every address of 127.0.90.0/24')
}

// ---- the sandbox: config and registry ----------------------------------------------------------------------------
const wide = Array.from({length: NODES}, (_, i) => `127.0.90.${i + 1}`)
const single = [`127.0.90.${NODES + 1}`]

function registry(port) {
  const created = new Date(Date.now() - 86400_000).toISOString()
  const forest = (id) => ({
    created_at: created,
    id,
    last_expansion: null,
    node_count: 0,
    ports: {client: 4222, cluster: 6222, monitor: port},
    provider: 'local',
    size: 'bench',
    status: 'active',
  })
  const nodes = (id, ips) =>
    ips.map((ip, i) => ({
      created_at: created,
      forest_id: id,
      id: `node-${i + 1}`,
      ip,
      ipv4: ip,
      memory_bytes: 4 << 30,
      role: 'edge',
      status: 'active',
    }))
  return {
    forests: {
      'forest-bench-one': {...forest('forest-bench-one'), node_count: 1},
      'forest-bench-wide': {...forest('forest-bench-wide'), node_count: NODES},
    },
    nodes: {'forest-bench-one': nodes('forest-bench-one', single), 'forest-bench-wide': nodes('forest-bench-wide', wide)},
    updated_at: created,
    version: 1,
  }
}

const ENV = {
  CI: 'true',
  HOME: SANDBOX,
  MORPHEUS_CACHE_DIR: join(SANDBOX, 'cache'),
  MORPHEUS_CONFIG: join(SANDBOX, 'config.yaml'),
  MORPHEUS_DATA_DIR: join(SANDBOX, 'data'),
  PATH: process.env.PATH,
}

function timed(args) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const child = spawn(process.execPath, [BIN, ...args], {cwd: SANDBOX, env: ENV, stdio: ['ignore', 'pipe', 'pipe']})
    children.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      children.delete(child)
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      if (code !== 0) return reject(new Error(`morpheus ${args.join(' ')} exited ${code}\n${stderr}`))
      resolve({ms, out: JSON.parse(stdout)})
    })
  })
}

function check(out, nodes) {
  if (
    out.status !== 'no_action' ||
    out.reason !== 'below_threshold' ||
    out.metrics.reachable !== nodes ||
    out.metrics.node_count !== nodes
  ) {
    throw new Error(`unexpected decision: ${JSON.stringify({metrics: out.metrics, reason: out.reason, status: out.status})}`)
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const r1 = (x) => Math.round(x * 10) / 10

async function inProcess(doc, id) {
  const {observeForest} = await import(join(ROOT, 'dist', 'growth', 'observe.js'))
  const forest = doc.forests[id]
  const deps = {endpoints: (n) => ({client: '', monitor: `http://${n.ip}:${forest.ports.monitor}`}), machineLocal: false, timeoutMs: 5000}
  const times = []
  for (let i = 0; i < RUNS; i++) {
    const o = await observeForest(deps, forest, doc.nodes[id])
    if (o.summary.reachable !== doc.nodes[id].length) throw new Error(`in-process sample of ${id}: ${o.summary.unreachable} unreachable`)
    times.push(o.ms)
  }
  return median(times)
}

async function main() {
  const load = loadavg().map((x) => Math.round(x * 100) / 100)
  const port = await serve([...wide.map((a) => `${a}=${NODES - 1}`), `${single[0]}=0`])
  const doc = registry(port)
  writeFileSync(join(SANDBOX, 'registry.json'), JSON.stringify(doc, null, 2), {mode: 0o600})
  writeFileSync(join(SANDBOX, 'config.yaml'), `registry:\n  type: none\n  path: ${join(SANDBOX, 'registry.json')}\n`)

  const args = (id) => ['grow', id, '--auto', '--dry-run', '--json', '--node-timeout', String(DELAY * 10)]
  // Warm-up (compile cache, page cache): not counted.
  check((await timed(args('forest-bench-wide'))).out, NODES)
  check((await timed(args('forest-bench-one'))).out, 1)
  const times = {one: [], wide: []}
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, order turned every round.
    const order = i % 2 ? ['one', 'wide'] : ['wide', 'one']
    for (const which of order) {
      const r = await timed(args(`forest-bench-${which}`))
      check(r.out, which === 'wide' ? NODES : 1)
      times[which].push(r.ms)
    }
  }
  const wideMs = median(times.wide)
  const oneMs = median(times.one)
  const sampleWide = await inProcess(doc, 'forest-bench-wide')
  const sampleOne = await inProcess(doc, 'forest-bench-one')
  const report = {
    bench: 'grow',
    cpus: cpus().length,
    delay_ms: DELAY,
    loadavg_before: load,
    monitoring_one_ms: r1(sampleOne),
    monitoring_ratio: Math.round((sampleWide / sampleOne) * 100) / 100,
    monitoring_wide_ms: r1(sampleWide),
    nodes: NODES,
    one_median_ms: r1(oneMs),
    ratio: Math.round((wideMs / oneMs) * 100) / 100,
    runs: RUNS,
    serial_estimate_ms: NODES * DELAY,
    target_ratio: TARGET_RATIO,
    wide_median_ms: r1(wideMs),
  }
  console.log(
    `grow --auto --dry-run through the built CLI, monitoring answering after ${DELAY} ms; ${RUNS} runs each (median); ${cpus().length} CPUs, load ${load.join(' ')}`,
  )
  console.log('')
  console.log(`  what                                  ${String(NODES).padStart(2)} nodes      1 node   ratio`)
  console.log(
    `  grow (whole command, wall time)    ${`${r1(wideMs)} ms`.padStart(10)} ${`${r1(oneMs)} ms`.padStart(10)}   ${report.ratio.toFixed(2)}   (target <= ${TARGET_RATIO})`,
  )
  console.log(
    `  monitoring phase (in process)      ${`${r1(sampleWide)} ms`.padStart(10)} ${`${r1(sampleOne)} ms`.padStart(10)}   ${report.monitoring_ratio.toFixed(2)}`,
  )
  console.log(
    `  one node after another (estimate)  ${`${NODES * DELAY} ms`.padStart(10)} ${`${DELAY} ms`.padStart(10)}   ${NODES.toFixed(2)}`,
  )
  console.log('')
  console.log(JSON.stringify(report))
  return report.ratio <= TARGET_RATIO
}

main()
  .then((ok) => {
    cleanup()
    process.exit(!ok && opts.strict ? 1 : 0)
  })
  .catch((error) => {
    console.error(`bench: ${error.message}`)
    cleanup()
    process.exit(1)
  })
