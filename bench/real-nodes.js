#!/usr/bin/env node
// Plant 3 and grow 1 on real nodes: the built CLI against the Hetzner simulator, whose servers boot as Debian 12
// systemd-nspawn machines running the user data with real cloud-init (test/fixtures/real-nodes, as in
// test/e2e/real-nodes.test.ts). Measures, per run, the wall time of `morpheus plant cloud --nodes 3 --yes --json` to
// a formed forest, and of `morpheus grow <forest> --auto --threshold 0 --json` until node-4 has joined; then tears
// the forest down. Every machine boots, runs cloud-init (apt from the local repository, ufw, the nats-server
// download) and starts NATS, so this is the time a forest takes on machines, less Hetzner's own server creation.
//
// Needs root, systemd-nspawn, nsenter, nft, and the root fs (test/fixtures/real-nodes/rootfs.sh); run after
// `npm run build`.
//
// Usage: node bench/real-nodes.js [--runs 1]
import {execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {parseArgs} from 'node:util'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CACHE = process.env.MORPHEUS_REAL_NODES_CACHE || '/var/cache/morpheus-test'
const TOKEN = 'bench-real-nodes-token-0f1e2d3c4b5a69788796a5b4c3d2e1f0'
const {values: opts} = parseArgs({options: {help: {type: 'boolean'}, runs: {type: 'string'}}})
if (opts.help) {
  console.log('usage: node bench/real-nodes.js [--runs N (default 1)]')
  process.exit(0)
}
const runs = Number(opts.runs ?? 1)
if (!existsSync(join(ROOT, 'dist/commands/plant.js'))) {
  console.error('bench/real-nodes: run npm run build first')
  process.exit(2)
}
if (!existsSync(join(CACHE, 'done'))) {
  console.error(`bench/real-nodes: no root fs in ${CACHE}; run test/fixtures/real-nodes/rootfs.sh first`)
  process.exit(2)
}

execFileSync(
  process.execPath,
  [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'test/fixtures/real-nodes/tsconfig.json')],
  {stdio: 'inherit'},
)
const load = (p) => import(pathToFileURL(join(ROOT, '.tmp/real-nodes/test/fixtures', p)).href)
const {HetznerSim} = await load('hetzner-sim/server.js')
const {NspawnBooter} = await load('real-nodes/booter.js')
const {CloudFirewall} = await load('real-nodes/cloud-firewall.js')
const {createNetwork, destroyNetwork, NET, startFileServer} = await load('real-nodes/network.js')
const {buildSite, integrationFor} = await load('real-nodes/site.js')
const {realNodesConfig, sshKey} = await load('real-nodes/config.js')

const work = mkdtempSync(join(tmpdir(), 'morpheus-bench-real-'))
let booter, sim, firewall, files
let current

async function cleanup() {
  current?.kill('SIGKILL')
  await booter?.stopAll()
  firewall?.stop()
  await sim?.stop()
  await files?.stop()
  destroyNetwork()
  rmSync(work, {force: true, recursive: true})
}
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => void cleanup().finally(() => process.exit(130)))

function cli(args, env) {
  return new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {env, stdio: ['ignore', 'pipe', 'pipe']})
    current = child
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('exit', (code) => {
      current = undefined
      resolve({code, ms: Date.now() - started, stderr, stdout})
    })
  })
}

const results = []
try {
  createNetwork()
  const site = buildSite(join(work, 'site'), join(CACHE, 'debs'), join(ROOT, 'test/fixtures/nimsforest/forest'))
  files = await startFileServer(site.root, 8080, join(ROOT, 'test/fixtures/real-nodes/file-server.mjs'))
  booter = new NspawnBooter({
    aptUrl: (r) => `${r.ipv4 ? files.url4 : files.url6}/debs`,
    binds: () => [{container: '/usr/local/bin/node', host: process.execPath, readOnly: true}],
    dir: join(work, 'machines'),
    rootfs: join(CACHE, 'rootfs'),
  })
  sim = new HetznerSim({
    booter,
    bootMs: 1000,
    ipv4Net: '192.0.2',
    ipv4Pool: NET.pool,
    specPath: join(ROOT, 'test/fixtures/hetzner-sim/cloud.spec.json'),
    tokens: {ro: [], rw: [TOKEN]},
  })
  await sim.start()
  firewall = new CloudFirewall(sim)
  firewall.start()
  const sandbox = join(work, 'sandbox')
  execFileSync('mkdir', ['-p', join(sandbox, 'home')])
  writeFileSync(join(sandbox, 'config.yaml'), realNodesConfig(integrationFor(site, files.url4), sshKey(work)))
  const env = {
    CI: 'true',
    HCLOUD_ENDPOINT: sim.url,
    HCLOUD_TOKEN: TOKEN,
    HOME: join(sandbox, 'home'),
    MORPHEUS_CACHE_DIR: join(sandbox, 'cache'),
    MORPHEUS_CONFIG: join(sandbox, 'config.yaml'),
    MORPHEUS_DATA_DIR: join(sandbox, 'data'),
    PATH: process.env.PATH,
  }
  for (let i = 0; i < runs; i++) {
    const load0 = loadavg()[0]
    const plant = await cli(['plant', 'cloud', '--nodes', '3', '--yes', '--json'], env)
    if (plant.code !== 0) throw new Error(`plant failed (exit ${plant.code}): ${plant.stdout}${plant.stderr}`)
    const forest = JSON.parse(plant.stdout).forest.id
    const grow = await cli(['grow', forest, '--auto', '--threshold', '0', '--json'], env)
    if (grow.code !== 0) throw new Error(`grow failed (exit ${grow.code}): ${grow.stdout}${grow.stderr}`)
    const status = await cli(['status', forest, '--json'], env)
    const health = JSON.parse(status.stdout)
    if (health.health !== 'healthy' || health.nodes.length !== 4)
      throw new Error(`after grow the forest is ${health.health} with ${health.nodes.length} nodes`)
    const down = await cli(['teardown', forest, '--yes', '--json'], env)
    if (down.code !== 0) throw new Error(`teardown failed: ${down.stdout}${down.stderr}`)
    await booter.idle()
    results.push({grow1_s: grow.ms / 1000, loadavg_before: load0, plant3_s: plant.ms / 1000, teardown_s: down.ms / 1000})
    console.log(
      `run ${i + 1}: plant 3 ${(plant.ms / 1000).toFixed(1)} s, grow 1 ${(grow.ms / 1000).toFixed(1)} s, teardown ${(down.ms / 1000).toFixed(1)} s (load ${load0.toFixed(2)})`,
    )
  }
} catch (error) {
  console.error(`bench/real-nodes: ${error.message}`)
  await cleanup()
  process.exit(1)
}
await cleanup()
console.log(JSON.stringify({bench: 'real-nodes', runs: results}))
