#!/usr/bin/env node
// Benchmarks of the built CLI (run `npm run build` first), in one run:
//   start-up  `node -e 0`, `morpheus --version`, `--help`, `list` (empty registry), `status` of an unknown forest and
//             `config get`, interleaved, N runs each: median and p90 in ms, and the difference of each median from node's;
//   plant     `morpheus plant local medium --json` to a formed three-node cluster, M times with a teardown in between: the
//             command's wall time and the `seconds` it reports, median and max.
// Targets: --help median <= node + 130 ms, every other command's median <= node + 150 ms, every plant formed in under 5 s.
// Prints a table, then one JSON line (the last line of stdout). Exits 1 on a missed target only with --strict.
//
// Everything runs in a temp sandbox (MORPHEUS_CONFIG, MORPHEUS_DATA_DIR, MORPHEUS_CACHE_DIR, HOME) whose config puts the
// local provider on a random 127.x.y.1, so nothing but the loopback range is used. Every process the bench starts is
// ended by its pid (never by name), also on failure and on Ctrl-C: the CLI children it is waiting for, the forests it
// planted (teardown, then a kill of any node process whose MORPHEUS_NODE_DIR lies in the sandbox).
//
// With --plugin PATH (a tarball, installed with `plugins install file:PATH`, or a directory, linked) the plugin is added to the
// sandbox first, and start-up also times `morpheus registry backends`, which runs every installed plugin's registries hook.
//
// Usage: node bench/run.js [--runs 20] [--plants 5] [--node /path/to/node] [--bin bin/run.js] [--plugin PATH] [--no-startup] [--no-plant] [--strict]
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {cpus, loadavg, tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
let BIN = join(ROOT, 'bin', 'run.js')
const TARGETS = {command_over_node_ms: 150, help_over_node_ms: 130, plant_formed_ms: 5000, version_over_node_ms: 150}

const USAGE = `usage: node bench/run.js [options]
  --runs N       start-up runs of each command (default 20)
  --plants N     plant/teardown cycles (default 5; 0 skips)
  --node PATH    the Node binary to benchmark under (default: this one, ${process.execPath})
  --bin PATH     the CLI entry point to benchmark (default: bin/run.js), e.g. an older copy of it kept in .tmp/
  --compare PATH also time every start-up command with this entry point (another checkout's bin/run.js, built), in the
                 same interleaved rounds; its rows have no target
  --plugin PATH  install this plugin tarball (or link this plugin directory) in the sandbox first, and also time
                 \`morpheus registry backends\`
  --no-startup   skip the start-up benchmark
  --no-plant     skip the plant benchmark
  --strict       exit 1 when a target is missed
  --help         this text`

let opts
try {
  opts = parseArgs({
    options: {
      bin: {type: 'string'},
      compare: {type: 'string'},
      help: {type: 'boolean'},
      node: {type: 'string'},
      'no-plant': {type: 'boolean'},
      'no-startup': {type: 'boolean'},
      plants: {type: 'string'},
      plugin: {type: 'string'},
      runs: {type: 'string'},
      strict: {type: 'boolean'},
    },
  }).values
} catch (error) {
  console.error(`${error.message}\n${USAGE}`)
  process.exit(2)
}

if (opts.help) {
  console.log(USAGE)
  process.exit(0)
}

const count = (value, fallback, name) => {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a whole number, got "${value}"`)
    process.exit(2)
  }
  return n
}

const RUNS = count(opts.runs, 20, 'runs')
const PLANTS = opts['no-plant'] ? 0 : count(opts.plants, 5, 'plants')
const STARTUP = !opts['no-startup'] && RUNS > 0
const NODE = opts.node ?? process.execPath
if (opts.bin) BIN = resolve(opts.bin)
const PLUGIN = opts.plugin ? resolve(opts.plugin) : undefined
const COMPARE = opts.compare ? resolve(opts.compare) : undefined
if (COMPARE && !existsSync(COMPARE)) {
  console.error(`bench: --compare ${opts.compare}: no such file`)
  process.exit(2)
}
if (PLUGIN && !existsSync(PLUGIN)) {
  console.error(`bench: --plugin ${opts.plugin}: no such file or directory`)
  process.exit(2)
}

if (!existsSync(join(ROOT, 'dist', 'commands')) || !existsSync(join(ROOT, 'oclif.manifest.json'))) {
  console.error('bench: the CLI is not built: run `npm run build` first')
  process.exit(2)
}

const nodeCheck = spawnSync(NODE, ['-p', 'process.version'], {encoding: 'utf8'})
if (nodeCheck.status !== 0) {
  console.error(`bench: cannot run ${NODE}: ${nodeCheck.error?.message ?? nodeCheck.stderr}`)
  process.exit(2)
}

const NODE_VERSION = nodeCheck.stdout.trim()

// ---- the sandbox, and cleaning up after ourselves -------------------------------------------------------------------

const SANDBOX = mkdtempSync(join(tmpdir(), 'morpheus-bench-'))
const FIRST_ADDRESS = `127.${10 + Math.floor(Math.random() * 240)}.${Math.floor(Math.random() * 250)}.1`
mkdirSync(join(SANDBOX, 'home'))
writeFileSync(join(SANDBOX, 'config.yaml'), `providers:\n  local:\n    first_address: ${FIRST_ADDRESS}\n`)

const ENV = {
  CI: 'true',
  HOME: join(SANDBOX, 'home'),
  LANG: process.env.LANG ?? 'C.UTF-8',
  MORPHEUS_CACHE_DIR: join(SANDBOX, 'cache'),
  MORPHEUS_CONFIG: join(SANDBOX, 'config.yaml'),
  MORPHEUS_DATA_DIR: join(SANDBOX, 'data'),
  PATH: process.env.PATH,
  TERM: 'dumb',
  ...(process.env.TMPDIR ? {TMPDIR: process.env.TMPDIR} : {}),
  // A linked ESM plugin makes oclif warn on every command.
  ...(opts.plugin ? {OCLIF_DISABLE_LINKED_ESM_WARNING: '1'} : {}),
}

/** CLI children being waited for, by pid. */
const running = new Map()
/** Forests planted and not yet torn down. */
const planted = new Set()
let cleanedUp = false

/** Pids of live node processes (nats-server, NimsForest) whose MORPHEUS_NODE_DIR lies in the sandbox. */
function sandboxNodeProcesses() {
  const pids = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'latin1')
      if (!env.split('\0').some((v) => v.startsWith(`MORPHEUS_NODE_DIR=${SANDBOX}/`))) continue
      if (/\) Z /.test(readFileSync(`/proc/${entry}/stat`, 'latin1'))) continue
      pids.push(Number(entry))
    } catch {
      // exited, or not ours to read
    }
  }
  return pids
}

function killPid(pid) {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

/** Synchronous so that it can run from a signal handler or on exit: children, forests, stray node processes, the sandbox. */
function cleanup() {
  if (cleanedUp) return
  cleanedUp = true
  for (const pid of running.keys()) killPid(pid)
  // A node process that a killed `plant` had just forked needs a moment to exec and show its MORPHEUS_NODE_DIR.
  if (running.size > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300)
  for (const id of planted) {
    spawnSync(NODE, [BIN, 'teardown', id, '--yes', '--json'], {cwd: SANDBOX, env: ENV, stdio: 'ignore', timeout: 30_000})
  }
  const strays = sandboxNodeProcesses()
  for (const pid of strays) killPid(pid)
  for (const pid of sandboxNodeProcesses()) killPid(pid)
  if (strays.length > 0) console.error(`bench: killed ${strays.length} node process(es) left in the sandbox: ${strays.join(', ')}`)
  rmSync(SANDBOX, {force: true, recursive: true})
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`\nbench: ${signal}, cleaning up`)
    cleanup()
    process.exit(signal === 'SIGINT' ? 130 : 143)
  })
}

process.on('exit', cleanup)

// ---- running and timing ---------------------------------------------------------------------------------------------

/** Run a command to its end; resolves with its wall time in ms (from just before spawn to its exit) and its output. */
function timed(file, args, timeoutMs = 60_000, env = ENV) {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(file, args, {cwd: SANDBOX, env, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    if (child.pid) running.set(child.pid, args)
    const timer = setTimeout(() => {
      killPid(child.pid)
      reject(new Error(`${args.join(' ')}: no exit within ${timeoutMs} ms`))
    }, timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      running.delete(child.pid)
      reject(error)
    })
    // The exit is the end of the command (its wall time); the pipes' close, when all output is in, may come a little later.
    let ms
    child.on('exit', () => (ms = performance.now() - started))
    child.on('close', (code) => {
      clearTimeout(timer)
      running.delete(child.pid)
      resolve({code, ms: ms ?? performance.now() - started, stderr, stdout})
    })
  })
}

const sorted = (xs) => [...xs].sort((a, b) => a - b)
const median = (xs) => {
  const s = sorted(xs)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/** Nearest-rank percentile. */
const percentile = (xs, p) => sorted(xs)[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)]
const round = (x, digits = 1) => (x === undefined || x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits)

// ---- start-up -------------------------------------------------------------------------------------------------------

async function startup() {
  // `target`: the most its median may be above node's; `code`: the exit code it must end with.
  const commands = [
    {args: ['-e', '0'], name: 'node -e 0'},
    {args: [BIN, '--version'], name: 'morpheus --version', target: TARGETS.version_over_node_ms},
    {args: [BIN, '--help'], name: 'morpheus --help', target: TARGETS.help_over_node_ms},
    {args: [BIN, 'list'], name: 'list (empty)', target: TARGETS.command_over_node_ms},
    {args: [BIN, 'status', 'forest-unknown'], code: 6, name: 'status (unknown)', target: TARGETS.command_over_node_ms},
    {args: [BIN, 'config', 'get', 'forest.parallel'], name: 'config get', target: TARGETS.command_over_node_ms},
    ...(PLUGIN ? [{args: [BIN, 'registry', 'backends'], name: 'registry backends', target: TARGETS.command_over_node_ms}] : []),
  ]
  if (COMPARE) {
    for (const c of commands.slice(1))
      commands.push({...c, args: [COMPARE, ...c.args.slice(1)], name: `${c.name} [compare]`, target: undefined})
  }
  const check = async (c) => {
    const r = await timed(NODE, c.args)
    // Another checkout may answer an unknown forest with another code; only its own rows are checked.
    if (r.code !== (c.code ?? 0) && !c.name.endsWith('[compare]'))
      throw new Error(`${c.name} exited ${r.code}, expected ${c.code ?? 0}\n${r.stdout}\n${r.stderr}`)
    return r
  }

  // One round to warm the file cache (and a compile cache, where the Node has one); not counted.
  for (const c of commands) await check(c)
  const times = commands.map(() => [])
  for (let round = 0; round < RUNS; round++) {
    // Interleaved, and the order turns each round, so that a slow moment of the machine is spread over all three.
    for (let k = 0; k < commands.length; k++) {
      const i = (round + k) % commands.length
      times[i].push((await check(commands[i])).ms)
    }
  }

  const base = median(times[0])
  return commands.map((c, i) => ({
    ...(c.target === undefined ? {} : {target_over_node_ms: c.target}),
    command: c.name,
    median_ms: round(median(times[i])),
    min_ms: round(Math.min(...times[i])),
    over_node_ms: round(median(times[i]) - base),
    p90_ms: round(percentile(times[i], 90)),
    runs: times[i].length,
  }))
}

// ---- plant ----------------------------------------------------------------------------------------------------------

async function plant() {
  const wall = []
  const reported = []
  const teardown = []
  for (let i = 0; i < PLANTS; i++) {
    const r = await timed(NODE, [BIN, 'plant', 'local', 'medium', '--json'], 120_000)
    let result
    try {
      result = JSON.parse(r.stdout)
    } catch {
      // not JSON: reported below
    }

    const id = result?.forest?.id
    if (id) planted.add(id)
    if (r.code !== 0 || !id) throw new Error(`plant local medium exited ${r.code}\n${r.stdout}\n${r.stderr}`)
    const ips = (result.nodes ?? []).map((n) => n.ip)
    if (ips.length !== 3 || !ips.every((ip) => /^127\./.test(ip)))
      throw new Error(`plant: expected three nodes on 127.0.0.0/8, got ${ips.join(', ')}`)
    wall.push(r.ms)
    reported.push(result.seconds * 1000)

    const t = await timed(NODE, [BIN, 'teardown', id, '--yes', '--json'], 60_000)
    if (t.code !== 0) throw new Error(`teardown ${id} exited ${t.code}\n${t.stdout}\n${t.stderr}`)
    planted.delete(id)
    teardown.push(t.ms)
    const left = sandboxNodeProcesses()
    if (left.length > 0) throw new Error(`teardown ${id} left node processes running: ${left.join(', ')}`)
  }

  return {
    reported_seconds: {max_ms: round(Math.max(...reported), 0), median_ms: round(median(reported), 0)},
    runs: PLANTS,
    teardown_wall: {max_ms: round(Math.max(...teardown), 0), median_ms: round(median(teardown), 0)},
    wall: {max_ms: round(Math.max(...wall), 0), median_ms: round(median(wall), 0)},
  }
}

// ---- main -----------------------------------------------------------------------------------------------------------

const pad = (s, n) => String(s).padEnd(n)
const lpad = (s, n) => String(s).padStart(n)
const signed = (x) => (x > 0 ? `+${x.toFixed(1)}` : x.toFixed(1))

const report = {
  bench: 'morpheus',
  cpus: cpus().length,
  loadavg_before: loadavg().map((x) => round(x, 2)),
  bin: BIN,
  ...(COMPARE ? {compare: COMPARE} : {}),
  node: NODE,
  node_version: NODE_VERSION,
  targets: TARGETS,
}
const missed = []
let failed

try {
  const {version} = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
  console.log(
    `morpheus ${version} (${BIN}) under node ${NODE_VERSION} (${NODE}); ${cpus().length} CPUs, load ${report.loadavg_before.join(' ')}; sandbox ${SANDBOX}, first address ${FIRST_ADDRESS}`,
  )
  if (PLUGIN) {
    // No npm registry is needed for a self-contained tarball (offline), nor for a linked directory.
    const args = PLUGIN.endsWith('.tgz') ? ['plugins', 'install', `file:${PLUGIN}`] : ['plugins', 'link', PLUGIN, '--no-install']
    const offline = {
      ...ENV,
      MORPHEUS_NPM_REGISTRY: 'http://127.0.0.1:9/',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_offline: 'true',
      npm_config_registry: 'http://127.0.0.1:9/',
      npm_config_update_notifier: 'false',
    }
    const r = await timed(NODE, [BIN, ...args], 300_000, offline)
    if (r.code !== 0) throw new Error(`morpheus ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`)
    report.plugin = PLUGIN
    console.log(`plugin ${PLUGIN} ${PLUGIN.endsWith('.tgz') ? 'installed' : 'linked'} in the sandbox`)
  }

  if (STARTUP) {
    const rows = await startup()
    report.startup = rows
    console.log(`\nstart-up, ${RUNS} runs each (interleaved), ms`)
    console.log(`${pad('command', 30)}${lpad('median', 8)}${lpad('p90', 8)}${lpad('min', 8)}${lpad('vs node', 9)}  target`)
    for (const row of rows) {
      let target = ''
      if (row.target_over_node_ms !== undefined) {
        const ok = row.over_node_ms <= row.target_over_node_ms
        row.ok = ok
        target = `<= +${row.target_over_node_ms}  ${ok ? 'ok' : 'MISSED'}`
        if (!ok) missed.push(`${row.command}: median ${signed(row.over_node_ms)} ms over node, target +${row.target_over_node_ms}`)
      }

      console.log(
        `${pad(row.command, 30)}${lpad(row.median_ms, 8)}${lpad(row.p90_ms, 8)}${lpad(row.min_ms, 8)}${lpad(row === rows[0] ? '' : signed(row.over_node_ms), 9)}  ${target}`,
      )
    }
  }

  if (PLANTS > 0) {
    const p = await plant()
    report.plant = p
    p.ok = p.wall.max_ms < TARGETS.plant_formed_ms
    if (!p.ok) missed.push(`plant local medium: slowest run ${p.wall.max_ms} ms, target < ${TARGETS.plant_formed_ms} ms`)
    console.log(`\nplant local medium to a formed cluster, ${PLANTS} runs (teardown in between), ms`)
    console.log(`${pad('measure', 30)}${lpad('median', 8)}${lpad('max', 8)}  target`)
    console.log(
      `${pad('command wall time', 30)}${lpad(p.wall.median_ms, 8)}${lpad(p.wall.max_ms, 8)}  < ${TARGETS.plant_formed_ms}  ${p.ok ? 'ok' : 'MISSED'}`,
    )
    console.log(`${pad('reported "seconds"', 30)}${lpad(p.reported_seconds.median_ms, 8)}${lpad(p.reported_seconds.max_ms, 8)}`)
    console.log(`${pad('teardown --yes wall time', 30)}${lpad(p.teardown_wall.median_ms, 8)}${lpad(p.teardown_wall.max_ms, 8)}`)
  }
} catch (error) {
  failed = error
}

report.loadavg_after = loadavg().map((x) => round(x, 2))
report.missed = missed
if (failed) report.error = String(failed.message ?? failed).split('\n')[0]
report.ok = !failed && missed.length === 0
console.log(`\n${missed.length > 0 ? `missed: ${missed.join('; ')}` : failed ? '' : 'all targets met'}`.trimEnd())
if (failed) console.error(`bench failed: ${failed.stack ?? failed}`)
console.log(JSON.stringify(report))
cleanup()
process.exitCode = failed ? 1 : opts.strict && missed.length > 0 ? 1 : 0
