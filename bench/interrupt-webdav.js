// Ctrl-C during `plant local --nodes 3` with the registry on a private WebDAV server (Apache mod_dav
// or nginx dav-ext): SIGINT at delays spread over the plant (from its "Claiming" line), then a tally
// of how each run ended: exit code, what the registry was left saying, the first error line.
// Every forest is torn down after each run (--force, for one left stale) and no nats-server of the
// sandbox may be left. Compare two builds with --tree (a checkout with bin/run.js built).
//
//   node bench/interrupt-webdav.js [--server apache|nginx] [--runs 10] [--spread-ms 900] [--tree PATH]
import {execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {webdavServers} from '../test/fixtures/webdav/servers.js'

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1] : fallback
}
const tree = arg('tree', fileURLToPath(new URL('..', import.meta.url)))
const runs = Number(arg('runs', 10))
const spread = Number(arg('spread-ms', 900))
const [kind] = webdavServers(arg('server', 'apache'))
const bin = join(tree, 'bin', 'run.js')

function pids(dir) {
  const out = []
  if (!existsSync(dir)) return out
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...pids(path))
    else if (name === 'nats.pid') out.push(Number(readFileSync(path, 'utf8').trim()))
  }
  return out
}
const alive = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

const server = await kind.start({folder: 'morpheus'})
const dir = mkdtempSync(join(tmpdir(), 'morpheus-interrupt-'))
mkdirSync(join(dir, 'home'))
const env = {
  CI: 'true',
  HOME: join(dir, 'home'),
  MORPHEUS_CACHE_DIR: join(dir, 'cache'),
  MORPHEUS_CONFIG: join(dir, 'config.yaml'),
  MORPHEUS_DATA_DIR: join(dir, 'data'),
  PATH: process.env.PATH,
  SB_PASSWORD: server.password,
}
writeFileSync(
  join(dir, 'config.yaml'),
  [
    'registry:',
    '  type: storagebox',
    `  url: ${server.url}registry.json`,
    `  username: ${server.username}`,
    '  password: ${SB_PASSWORD}',
    'providers:',
    '  local:',
    `    first_address: 127.${60 + Math.floor(Math.random() * 100)}.9.1`,
    `    data_dir: ${join(dir, 'local')}`,
    '',
  ].join('\n'),
)
const tally = {}
const count = (key) => (tally[key] = (tally[key] ?? 0) + 1)
try {
  execFileSync('node', [bin, 'registry', 'init', '--yes'], {env, stdio: 'ignore'})
  for (let i = 0; i < runs; i++) {
    const delay = Math.round((i * spread) / Math.max(1, runs - 1))
    const child = spawn('node', [bin, 'plant', 'local', '--nodes', '3'], {env})
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const code = await new Promise((resolve) => {
      child.on('close', resolve)
      const look = setInterval(() => {
        if (!stderr.includes('Claiming')) return
        clearInterval(look)
        setTimeout(() => child.kill('SIGINT'), delay)
      }, 2)
    })
    const doc = JSON.parse(readFileSync(join(server.root, 'morpheus', 'registry.json'), 'utf8'))
    const left =
      Object.values(doc.forests)
        .map((f) => f.status)
        .join(',') || '-'
    const line = (/AbortError|UNEXPECTED[^\n]*|could not record[^\n]*|Error: [^\n]*/.exec(stderr)?.[0] ?? '')
      .replace(/forest-\d+/g, 'forest-N')
      .replace(/https?:\/\/\S*/g, 'URL')
      .slice(0, 100)
    count(`exit ${code} | registry: ${left} | ${line}`)
    for (const id of Object.keys(doc.forests)) {
      try {
        execFileSync('node', [bin, 'teardown', id, '--yes', '--force'], {env, stdio: 'ignore', timeout: 60_000})
      } catch {
        count('teardown failed')
      }
    }
    const running = pids(join(dir, 'local')).filter(alive)
    if (running.length > 0) count('nats-server left after teardown')
    for (const pid of running) process.kill(pid, 'SIGKILL')
  }
} finally {
  server.stop()
  rmSync(dir, {force: true, recursive: true})
}
console.log(JSON.stringify({runs, server: kind.name, spread_ms: spread, tally, tree}))
