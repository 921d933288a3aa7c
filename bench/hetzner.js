#!/usr/bin/env node
// Benchmarks of the Hetzner provider against the Hetzner API simulator (test/fixtures/hetzner-sim), run after
// `npm run build`. No machine here reaches Hetzner, so the figures measure Morpheus's own behaviour: how it
// overlaps work and how many API requests it makes, with the simulator standing in for the cloud.
//
//   ratio     plant of 10 nodes against plant of 1, the same fixed boot delay (--boot, default 5 s), each to a formed
//             cluster (every nats-server routing to all others); target: 10-node time / 1-node time <= 1.3.
//             Both with the defaults a user gets: no forest.parallel in the config, so a cloud plant creates as many
//             servers at once as the provider allows (hetzner: 10), all ten booting in one round.
//   requests  API requests of a 10-node plant with a 10 s boot and 1 s polling; target <= 60.
//
// By default the plants drive the provider through the plugin contract's lifecycle (preflight, reserve, prepare,
// createNode in parallel with the peer list) the way the core's forest engine does, in this process
// (test/fixtures/hetzner-sim/drive.ts), with the core's real cloud-init user data; the servers boot real
// nats-servers on 127.0.50.x from it.
//
// With --cli the same plants run through the built CLI (`morpheus plant cloud --nodes N --json`, then teardown) in a
// temp sandbox with HCLOUD_ENDPOINT pointing at the simulator and the default config (no forest.parallel): the whole
// path, engine and registry included. `--cli --parallel 5` sets forest.parallel in that config instead (5 was what every
// plant got before cloud plants used the provider's own bound: ten servers then booted in two rounds).
//
// Usage: node bench/hetzner.js [--boot 5] [--runs 3] [--cli [--parallel N]] [--strict]
import {execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {parseArgs} from 'node:util'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TARGETS = {ratio: 1.3, requests: 60}
const {values: opts} = parseArgs({
  options: {
    boot: {type: 'string'},
    cli: {type: 'boolean'},
    help: {type: 'boolean'},
    parallel: {type: 'string'},
    runs: {type: 'string'},
    strict: {type: 'boolean'},
  },
})
if (opts.help) {
  console.log(
    'usage: node bench/hetzner.js [--boot SECONDS (default 5)] [--runs N (default 3)] [--cli [--parallel N (forest.parallel; default: unset)]] [--strict]',
  )
  process.exit(0)
}
const bootMs = Number(opts.boot ?? 5) * 1000
const runs = Number(opts.runs ?? 3)

for (const f of ['dist/plugins/helpers.js', 'plugins/provider-hetzner/dist/provider.js']) {
  if (!existsSync(join(ROOT, f))) {
    console.error(`bench/hetzner: ${f} is missing; run npm run build first`)
    process.exit(2)
  }
}
execFileSync(
  process.execPath,
  [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'test/fixtures/hetzner-sim/tsconfig.json')],
  {stdio: 'inherit'},
)
const load = (p) => import(pathToFileURL(join(ROOT, p)).href)
const {HetznerSim} = await load('.tmp/hetzner-sim/test/fixtures/hetzner-sim/server.js')
const {drivePlant, driveTeardown} = await load('.tmp/hetzner-sim/test/fixtures/hetzner-sim/drive.js')
const {hetznerConfig} = await load('.tmp/hetzner-sim/test/fixtures/hetzner-sim/config.js')
const {HetznerProvider} = await load('plugins/provider-hetzner/dist/provider.js')
const {helpers} = await load('dist/plugins/helpers.js')
const {pluginError} = await load('dist/plugins/errors.js')
const {createRenderer} = await load('dist/templates/render.js')

const TOKEN = 'bench-token'
const renderer = await createRenderer()
let forests = 0
let live

async function formed(nodes, ports, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const routes = await Promise.all(
      nodes.map(async (n) => {
        try {
          const r = await fetch(`http://${n.ipv4}:${ports.monitor}/varz`, {signal: AbortSignal.timeout(500)})
          return (await r.json()).routes
        } catch {
          return -1
        }
      }),
    )
    if (routes.every((r) => r === nodes.length - 1)) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('the forest did not form')
}

/** One plant of `count` nodes to a formed cluster: seconds, API requests, and the requests by endpoint. */
async function plant(count, boot, pollSeconds) {
  const base = 30000 + Math.floor(Math.random() * 300) * 100
  const ports = {client: base + 22, cluster: base + 62, monitor: base + 82}
  const sim = new HetznerSim({
    bootMs: boot,
    bootNats: true,
    ipv4Pool: [2, 200],
    specPath: join(ROOT, 'test/fixtures/hetzner-sim/cloud.spec.json'),
    tokens: {rw: [TOKEN]},
  })
  live = sim
  await sim.start()
  const context = {
    apiVersion: 2,
    config: {endpoint: sim.url, operator_cidrs: ['127.0.0.1/32'], poll_interval_seconds: pollSeconds, route_via: 'ipv4'},
    configDir: ROOT,
    dataDir: ROOT,
    device: 'bench',
    error: pluginError,
    helpers,
    log: {debug() {}, info() {}, warn: (m) => console.error(`warning: ${m}`)},
    ports,
    resolvePath: (v) => v,
    secrets: {hetzner_api_token: TOKEN},
    signal: new AbortController().signal,
    templates: renderer,
  }
  const provider = new HetznerProvider(context)
  const started = Date.now()
  // No `parallel`: the driver creates as many at once as the engine does by default for a cloud plant (the provider's bound, 10).
  const result = await drivePlant(provider, {count, forestId: `forest-bench-${process.pid}-${++forests}`, ports})
  const failed = result.prepareError ?? [...result.errors.values()][0]
  if (failed) throw failed
  await formed(result.nodes, ports, 60_000)
  const seconds = (Date.now() - started) / 1000
  const requests = sim.requests.length
  const byEndpoint = {}
  for (const r of sim.requests)
    byEndpoint[`${r.method} ${r.path.replace(/\/\d+/g, '/{id}')}`] =
      (byEndpoint[`${r.method} ${r.path.replace(/\/\d+/g, '/{id}')}`] ?? 0) + 1
  const violations = [...sim.violations]
  await driveTeardown(provider, result.forest, result.nodes)
  const left = sim.paid()
  await sim.stop()
  live = undefined
  if (violations.length > 0) throw new Error(`requests outside the API spec: ${violations.join('; ')}`)
  if (left.servers.length + left.primaryIps.length > 0) throw new Error(`teardown left ${JSON.stringify(left)}`)
  return {byEndpoint, requests, seconds}
}

/** The same plant through the built CLI: plant cloud --nodes N --json to a formed forest, then teardown --yes. */
async function plantCli(count, boot, pollSeconds) {
  const base = 30000 + Math.floor(Math.random() * 300) * 100
  const sim = new HetznerSim({
    bootMs: boot,
    bootNats: true,
    ipv4Pool: [2, 200],
    specPath: join(ROOT, 'test/fixtures/hetzner-sim/cloud.spec.json'),
    tokens: {rw: [TOKEN]},
  })
  live = sim
  await sim.start()
  const dir = mkdtempSync(join(tmpdir(), 'morpheus-bench-hetzner-'))
  const forest = {
    form_timeout_seconds: 120,
    parallel: opts.parallel ? Number(opts.parallel) : undefined,
    ports: {client: base + 22, cluster: base + 62, monitor: base + 82},
  }
  // boot_timeout_seconds is not set here: the provider's default.
  writeFileSync(
    join(dir, 'config.yaml'),
    hetznerConfig({forest, hetzner: {boot_timeout_seconds: undefined, poll_interval_seconds: pollSeconds}}),
  )
  const env = {
    HCLOUD_ENDPOINT: sim.url,
    HCLOUD_TOKEN: TOKEN,
    HOME: dir,
    MORPHEUS_CACHE_DIR: join(dir, 'cache'),
    MORPHEUS_CONFIG: join(dir, 'config.yaml'),
    MORPHEUS_DATA_DIR: join(dir, 'data'),
    PATH: process.env.PATH,
  }
  const run = (args) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {env, stdio: ['ignore', 'pipe', 'pipe']})
      let out = ''
      let err = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (err += d))
      child.on('close', (code) => resolve({code, err, out}))
    })
  try {
    const started = Date.now()
    const planted = await run(['plant', 'cloud', '--nodes', String(count), '--yes', '--json'])
    const seconds = (Date.now() - started) / 1000
    if (planted.code !== 0) throw new Error(`plant exited ${planted.code}: ${planted.err.trim()}`)
    const requests = sim.requests.length
    const byEndpoint = {}
    for (const r of sim.requests)
      byEndpoint[`${r.method} ${r.path.replace(/\/\d+/g, '/{id}')}`] =
        (byEndpoint[`${r.method} ${r.path.replace(/\/\d+/g, '/{id}')}`] ?? 0) + 1
    const down = await run(['teardown', JSON.parse(planted.out).forest.id, '--yes'])
    if (down.code !== 0) throw new Error(`teardown exited ${down.code}: ${down.err.trim()}`)
    if (sim.violations.length > 0) throw new Error(`requests outside the API spec: ${sim.violations.join('; ')}`)
    const left = sim.paid()
    if (left.servers.length + left.primaryIps.length > 0) throw new Error(`teardown left ${JSON.stringify(left)}`)
    return {byEndpoint, requests, seconds}
  } finally {
    await sim.stop()
    live = undefined
    rmSync(dir, {force: true, recursive: true})
  }
}

const plantWith = opts.cli ? plantCli : plant

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    await live?.stop()
    process.exit(130)
  })
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
try {
  const one = []
  const ten = []
  for (let i = 0; i < runs; i++) {
    one.push((await plantWith(1, bootMs, 1)).seconds)
    ten.push((await plantWith(10, bootMs, 1)).seconds)
  }
  const ratio = median(ten) / median(one)
  const counted = await plantWith(10, 10_000, 1)
  console.log(
    `plant, ${bootMs / 1000}s boot, 1s polling, ${runs} runs (median): 1 node ${median(one).toFixed(2)}s, 10 nodes ${median(ten).toFixed(2)}s; ratio ${ratio.toFixed(2)} (target <= ${TARGETS.ratio})`,
  )
  console.log(
    `API requests, 10-node plant, 10s boot, 1s polling: ${counted.requests} (target <= ${TARGETS.requests}) in ${counted.seconds.toFixed(1)}s`,
  )
  for (const [k, v] of Object.entries(counted.byEndpoint).sort()) console.log(`  ${String(v).padStart(3)}  ${k}`)
  const out = {
    boot_seconds: bootMs / 1000,
    driven: opts.cli ? 'the built CLI (plant cloud --nodes N)' : 'provider lifecycle (drive.ts), not the CLI',
    forest_parallel: opts.cli && opts.parallel ? Number(opts.parallel) : 'unset',
    one_node_seconds: one,
    ratio: Number(ratio.toFixed(3)),
    requests_10_nodes: counted.requests,
    requests_by_endpoint: counted.byEndpoint,
    runs,
    targets: TARGETS,
    ten_node_seconds: ten,
  }
  console.log(JSON.stringify(out))
  if (opts.strict && (ratio > TARGETS.ratio || counted.requests > TARGETS.requests)) process.exit(1)
} catch (error) {
  console.error(`bench/hetzner failed: ${error?.stack ?? error}`)
  await live?.stop()
  process.exit(1)
}
