#!/usr/bin/env node
// Timing of the live-forest changes of issue 17 on local forests of real nats-server (run `npm run
// build` first): `grow` of a one-node forest (its streams carried into the cluster) and `shrink`
// 4 → 3 (the node holding the R1 stream), each through the built CLI while the official client
// publishes to JetStream all the time. For each run it reports the command's wall time, the longest
// gap between two acked publishes while it ran (the write pause clients see), and checks that every
// acked message is still there afterwards (a lost message fails the bench).
//
// Usage: node bench/live-forest.js [--runs 3]
import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {cpus, loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

import {jetstream, jetstreamManager} from '@nats-io/jetstream'
import {connect} from '@nats-io/transport-node'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(ROOT, 'bin', 'run.js')
const {values: opts} = parseArgs({options: {runs: {type: 'string'}}})
const RUNS = Number(opts.runs ?? 3)
if (!Number.isInteger(RUNS) || RUNS < 1) {
  console.error('usage: node bench/live-forest.js [--runs N]')
  process.exit(2)
}
if (!existsSync(join(ROOT, 'dist', 'commands', 'shrink.js'))) {
  console.error('bench: the CLI is not built: run `npm run build` first')
  process.exit(2)
}

const dir = mkdtempSync(join(tmpdir(), 'morpheus-bench-live-'))
mkdirSync(join(dir, 'home'))
const first = `127.${10 + Math.floor(Math.random() * 240)}.${Math.floor(Math.random() * 250)}.1`
writeFileSync(join(dir, 'config.yaml'), `providers:\n  local:\n    first_address: ${first}\n`)
const env = {
  ...process.env,
  CI: 'true',
  HOME: join(dir, 'home'),
  MORPHEUS_CACHE_DIR: join(dir, 'cache'),
  MORPHEUS_CONFIG: join(dir, 'config.yaml'),
  MORPHEUS_DATA_DIR: join(dir, 'data'),
  NODE_OPTIONS: '',
}

function cli(args) {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(process.execPath, [BIN, ...args, '--json'], {cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('close', (code) => {
      const ms = performance.now() - started
      if (code !== 0) return reject(new Error(`morpheus ${args.join(' ')} exited ${code}\n${out}\n${err}`))
      resolve({ms, out: JSON.parse(out)})
    })
  })
}

const clients = (id) => JSON.parse(readFileSync(join(dir, 'registry.json'), 'utf8')).nodes[id].map((n) => `nats://${n.ip}:4222`)

/** Publishes to each stream in turn, all the time; remembers every acked id and when it was acked. */
async function writer(servers, streams) {
  const nc = await connect({maxReconnectAttempts: -1, reconnectTimeWait: 200, servers})
  const jsm = await jetstreamManager(nc)
  for (const s of streams) await jsm.streams.add({name: s.name, num_replicas: s.replicas, subjects: [`${s.name}.data`]})
  const js = jetstream(nc, {timeout: 3000})
  const acked = new Map(streams.map((s) => [s.name, []]))
  const times = []
  let running = true
  let next = 1
  const loop = (async () => {
    while (running) {
      for (const s of streams) {
        const id = next++
        try {
          await js.publish(`${s.name}.data`, String(id), {msgID: `b-${id}`})
          acked.get(s.name).push(id)
          times.push(performance.now())
        } catch {
          // not acked: a pause
        }
      }
      await new Promise((r) => setTimeout(r, 10))
    }
  })()
  return {
    acked,
    nc,
    /** The longest gap between two acks within [from, to]. */
    gap(from, to) {
      const within = times.filter((t) => t >= from - 1000 && t <= to + 60_000)
      let max = 0
      for (let i = 1; i < within.length; i++) if (within[i - 1] <= to) max = Math.max(max, within[i] - within[i - 1])
      return max
    },
    async waitAcks(n) {
      const target = times.length + n
      const deadline = Date.now() + 60_000
      while (times.length < target) {
        if (Date.now() > deadline) throw new Error('the writer got no acks')
        await new Promise((r) => setTimeout(r, 20))
      }
    },
    async stop() {
      running = false
      await loop
    },
  }
}

async function missing(servers, w) {
  const nc = await connect({servers})
  const out = {}
  try {
    const js = jetstream(nc)
    for (const [name, ids] of w.acked) {
      const seen = new Set()
      const consumer = await js.consumers.get(name)
      const total = (await (await jetstreamManager(nc)).streams.info(name)).state.messages
      while (seen.size < total) {
        const batch = await consumer.fetch({expires: 2000, max_messages: 500})
        let got = 0
        for await (const m of batch) {
          seen.add(Number(m.string()))
          got++
        }
        if (got === 0) break
      }
      out[name] = ids.filter((id) => !seen.has(id)).length
    }
  } finally {
    await nc.close()
  }
  return out
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const rows = {grow: [], shrink: []}
try {
  for (let run = 0; run < RUNS; run++) {
    // grow from one node
    const planted = (await cli(['plant', 'local', 'small'])).out
    const id = planted.forest.id
    let w = await writer(clients(id), [{name: 'R1', replicas: 1}])
    await w.waitAcks(100)
    let t0 = performance.now()
    const grown = await cli(['grow', id, '--yes', '--threshold', '0'])
    let t1 = performance.now()
    if (grown.out.status !== 'expanded') throw new Error(`grow: ${grown.out.status}`)
    await w.waitAcks(100)
    await w.stop()
    let lost = await missing(clients(id), w)
    await w.nc.close()
    rows.grow.push({gap: w.gap(t0, t1), lost, ms: grown.ms})
    await cli(['teardown', id, '--yes'])

    // shrink 4 -> 3
    const four = (await cli(['plant', 'local', '--nodes', '4'])).out
    const fid = four.forest.id
    w = await writer(clients(fid).slice(0, 3), [
      {name: 'R3', replicas: 3},
      {name: 'R1', replicas: 1},
    ])
    await w.waitAcks(100)
    const info = await (await jetstreamManager(w.nc)).streams.info('R1')
    t0 = performance.now()
    const shrunk = await cli(['shrink', fid, '--node', info.cluster.leader, '--yes'])
    t1 = performance.now()
    await w.waitAcks(100)
    await w.stop()
    lost = await missing(clients(fid), w)
    await w.nc.close()
    rows.shrink.push({gap: w.gap(t0, t1), lost, ms: shrunk.ms})
    await cli(['teardown', fid, '--yes'])
  }
} finally {
  rmSync(dir, {force: true, recursive: true})
}

const summary = {}
for (const [name, list] of Object.entries(rows)) {
  const lost = list.reduce((n, r) => n + Object.values(r.lost).reduce((a, b) => a + b, 0), 0)
  summary[name] = {
    lost,
    median_gap_ms: Math.round(median(list.map((r) => r.gap))),
    median_ms: Math.round(median(list.map((r) => r.ms))),
    runs: list.length,
    wall_ms: list.map((r) => Math.round(r.ms)),
  }
  console.log(
    `${name.padEnd(7)} median ${summary[name].median_ms} ms (runs: ${summary[name].wall_ms.join(', ')}), longest write pause (median) ${summary[name].median_gap_ms} ms, acked messages lost: ${lost}`,
  )
}
console.log(
  `machine: ${cpus().length} cores, load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
)
console.log(JSON.stringify(summary))
process.exit(Object.values(summary).some((s) => s.lost > 0) ? 1 : 0)
