#!/usr/bin/env node
// Times `morpheus repair` of a SIGKILLed node and `morpheus upgrade` of every node to another nats-server binary
// (a copy of the installed one under another name) on a local forest of real nats-server, through the built CLI,
// with the official NATS client writing to an R3 and an R1 stream all the time; checks every acked message is
// there afterwards. Run `npm run build` first.
//
//   node bench/repair-upgrade.js [--nodes 3] [--runs 3]
import {spawn, spawnSync} from 'node:child_process'
import {chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {setTimeout as sleep} from 'node:timers/promises'

import {connect} from '@nats-io/transport-node'
import {jetstream, jetstreamManager} from '@nats-io/jetstream'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
const flag = (name, fallback) => (args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : fallback)
const NODES = flag('nodes', 3)
const RUNS = flag('runs', 3)

/** The built CLI as a child process (never spawnSync: the writer in this process must keep publishing meanwhile). */
async function cli(dir, argv) {
  const started = Date.now()
  const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), ...argv, '--json'], {
    env: {
      ...process.env,
      HOME: join(dir, 'home'),
      MORPHEUS_CACHE_DIR: join(dir, 'cache'),
      MORPHEUS_CONFIG: join(dir, 'config.yaml'),
      MORPHEUS_DATA_DIR: join(dir, 'data'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const status = await new Promise((resolve) => child.on('close', resolve))
  const ms = Date.now() - started
  let out
  try {
    out = JSON.parse(stdout)
  } catch {
    throw new Error(`morpheus ${argv.join(' ')}: no JSON (exit ${status}): ${stderr}`)
  }
  if (status !== 0) throw new Error(`morpheus ${argv.join(' ')} exited ${status}: ${JSON.stringify(out.error)}`)
  return {ms, out}
}

/** Acked publishes to R3 and R1 until stopped; verify() names acked ids missing from the streams. */
async function writer(servers) {
  const nc = await connect({maxReconnectAttempts: -1, reconnect: true, reconnectTimeWait: 200, servers})
  const jsm = await jetstreamManager(nc)
  for (const [name, replicas] of [
    ['R3', 3],
    ['R1', 1],
  ])
    await jsm.streams.add({name, num_replicas: Math.min(replicas, NODES), subjects: [`${name}.data`]})
  const js = jetstream(nc, {timeout: 3000})
  const acked = {R1: [], R3: []}
  let running = true
  let next = 1
  const counts = {errors: 0}
  const loop = (async () => {
    while (running) {
      for (const s of ['R3', 'R1']) {
        const id = next++
        try {
          await js.publish(`${s}.data`, String(id), {msgID: `b-${id}`})
          acked[s].push(id)
        } catch {
          counts.errors++ // not acked: not counted
        }
      }
      await sleep(20)
    }
  })()
  return {
    acked,
    counts,
    async stop() {
      running = false
      await loop
    },
    async verify() {
      const missing = {}
      for (const s of ['R3', 'R1']) {
        const info = await jsm.streams.info(s)
        const consumer = await js.consumers.get(s)
        const found = new Set()
        while (found.size < info.state.messages) {
          const batch = await consumer.fetch({expires: 2000, max_messages: 500})
          let got = 0
          for await (const m of batch) {
            found.add(Number(m.string()))
            got++
          }
          if (got === 0) break
        }
        missing[s] = acked[s].filter((id) => !found.has(id)).length
      }
      await nc.close()
      return missing
    },
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const results = {repair: [], upgrade: []}
for (let run = 1; run <= RUNS; run++) {
  const dir = mkdtempSync(join(tmpdir(), 'morpheus-bench-repair-'))
  mkdirSync(join(dir, 'home'))
  const first = `127.${30 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}.1`
  writeFileSync(join(dir, 'config.yaml'), `providers:\n  local:\n    first_address: ${first}\n`)
  try {
    const planted = (await cli(dir, ['plant', 'local', '--nodes', String(NODES)])).out
    const id = planted.forest.id
    const w = await writer(planted.nodes.map((n) => n.client))
    await sleep(1000)
    const pid = JSON.parse(readFileSync(join(dir, 'local', id, 'node-2', 'node.json'), 'utf8')).pid
    process.kill(pid, 'SIGKILL')
    await sleep(500)
    const repair = await cli(dir, ['repair', id, '--yes'])
    if (repair.out.status !== 'repaired') throw new Error(`repair: ${repair.out.status}`)
    const copy = join(dir, 'nats-server-next')
    copyFileSync(planted.forest.versions.nats_source, copy)
    chmodSync(copy, 0o755)
    const upgrade = await cli(dir, ['upgrade', id, '--nats', copy, '--yes'])
    if (upgrade.out.status !== 'upgraded') throw new Error(`upgrade: ${upgrade.out.status}`)
    await sleep(1000)
    await w.stop()
    const missing = await w.verify()
    const acked = w.acked.R3.length + w.acked.R1.length
    results.repair.push(repair.ms)
    results.upgrade.push(upgrade.ms)
    console.log(
      `run ${run}: repair ${repair.ms} ms (engine ${repair.out.seconds}s), upgrade of ${NODES} nodes ${upgrade.ms} ms (engine ${upgrade.out.seconds}s); ${acked} acked, ${w.counts.errors} not acked (timeouts, no leader for a moment), missing R3 ${missing.R3}, R1 ${missing.R1}`,
    )
    if (missing.R3 + missing.R1 > 0) process.exitCode = 1
    await cli(dir, ['teardown', id, '--yes'])
  } finally {
    for (const line of spawnSync('sh', ['-c', `grep -l MORPHEUS_NODE_DIR=${dir} /proc/[0-9]*/environ 2>/dev/null`], {encoding: 'utf8'})
      .stdout.split('\n')
      .filter(Boolean)) {
      try {
        process.kill(Number(line.split('/')[2]), 'SIGKILL')
      } catch {
        // gone
      }
    }
    rmSync(dir, {force: true, recursive: true})
  }
}
console.log(
  `medians over ${RUNS} runs, ${NODES} nodes: repair ${median(results.repair)} ms, upgrade ${median(results.upgrade)} ms (${Math.round(median(results.upgrade) / NODES)} ms a node)`,
)
