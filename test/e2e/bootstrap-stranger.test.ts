/**
 * A forest closed to strangers, on real nats-server processes: the nats.conf Morpheus renders
 * (renderer.natsConfig, the same template cloud nodes get) with the forest's route credentials.
 * Two members form a cluster; a server without the credentials and one with wrong ones never
 * get a route to them; a third member with the right credentials joins (the positive control).
 * Servers listen on 127.0.60.x (this test's range) on free ports.
 */
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {ClusterAuth, NatsPorts, TemplateRenderer} from '../../src/plugin-api/index.js'
import {natsConfigData, type RouteTlsFiles} from '../../src/templates/nats.js'
import {createRenderer} from '../../src/templates/render.js'
import {freePort} from '../helpers/nats.js'

const FOREST = 'forest-stranger-test'
// A password with every character the escaping must survive (nats.conf string and route URL).
const AUTH: ClusterAuth = {password: `r0ute "pa55" #w}{ord $(id) ' , %`, user: 'forest-route'}

interface Server {
  name: string
  ip: string
  ports: NatsPorts
  child?: ChildProcess
  log: string
}

async function server(name: string, ip: string): Promise<Server> {
  return {ip, log: '', name, ports: {client: await freePort(ip), cluster: await freePort(ip), monitor: await freePort(ip)}}
}

let dir: string
let renderer: TemplateRenderer
const started: Server[] = []

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'morpheus-stranger-'))
  renderer = await createRenderer()
})

afterAll(() => {
  for (const s of started) if (s.child?.pid && s.child.exitCode === null) process.kill(s.child.pid, 'SIGKILL')
  rmSync(dir, {force: true, recursive: true})
})

/**
 * Render this server's nats.conf (routes to `peers`, with `auth`, and route TLS files if given:
 * the data userData uses in system mode) and start nats-server on it.
 */
function start(s: Server, peers: Server[], auth: ClusterAuth | null, tls: RouteTlsFiles | null = null): string {
  const conf = renderer.render(
    'nats.conf',
    natsConfigData(
      {
        bind: {client: s.ip, cluster: s.ip, monitor: s.ip},
        cluster: true,
        cluster_auth: auth,
        files: {store_dir: join(dir, s.name)},
        forest: {id: FOREST},
        node: {id: s.name, ip: s.ip},
        peers: peers.map((p) => ({id: p.name, ip: p.ip, ports: p.ports})),
        ports: s.ports,
      },
      {tls},
    ),
  )
  const file = join(dir, `${s.name}.conf`)
  writeFileSync(file, conf, {mode: 0o600})
  s.child = spawn('nats-server', ['-c', file], {stdio: ['ignore', 'ignore', 'pipe']})
  s.child.stderr!.on('data', (d) => {
    s.log += d.toString()
  })
  started.push(s)
  return conf
}

async function routes(s: Server): Promise<number | undefined> {
  try {
    const r = await fetch(`http://${s.ip}:${s.ports.monitor}/routez`, {signal: AbortSignal.timeout(1000)})
    return ((await r.json()) as {num_routes: number}).num_routes
  } catch {
    return undefined
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** The most and the fewest routes each server reported, sampled every 250 ms for `ms`. */
async function observe(servers: Server[], ms: number): Promise<Record<string, {max: number; min: number; samples: number}>> {
  const seen: Record<string, {max: number; min: number; samples: number}> = {}
  for (const s of servers) seen[s.name] = {max: -1, min: Number.MAX_SAFE_INTEGER, samples: 0}
  const end = Date.now() + ms
  while (Date.now() < end) {
    for (const s of servers) {
      const n = await routes(s)
      if (n === undefined) continue
      seen[s.name].max = Math.max(seen[s.name].max, n)
      seen[s.name].min = Math.min(seen[s.name].min, n)
      seen[s.name].samples++
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  return seen
}

test('members with the route credentials form a cluster; strangers without them, or with wrong ones, cannot join; a new member can', async () => {
  const a = await server('member-a', '127.0.60.11')
  const b = await server('member-b', '127.0.60.12')
  const stranger = await server('stranger', '127.0.60.13')
  const wrong = await server('wrong-credentials', '127.0.60.14')
  const c = await server('member-c', '127.0.60.15')

  const confA = start(a, [b], AUTH)
  start(b, [a], AUTH)
  expect(confA).toContain('authorization {')
  await until('the two members to route to each other', async () => (await routes(a)) === 1 && (await routes(b)) === 1)

  // A stranger routes to both members without credentials; another presents wrong ones.
  const strangerConf = start(stranger, [a, b], null)
  expect(strangerConf).not.toContain('authorization')
  start(wrong, [a, b], {password: 'not-the-password', user: AUTH.user})
  await until(
    'both strangers to answer on monitoring',
    async () => (await routes(stranger)) !== undefined && (await routes(wrong)) !== undefined,
  )

  const seen = await observe([a, b, stranger, wrong], 5000)
  expect(seen['member-a']).toMatchObject({max: 1, min: 1})
  expect(seen['member-b']).toMatchObject({max: 1, min: 1})
  expect(seen.stranger).toMatchObject({max: 0, min: 0})
  expect(seen['wrong-credentials']).toMatchObject({max: 0, min: 0})
  for (const s of Object.values(seen)) expect(s.samples).toBeGreaterThanOrEqual(10)
  // The members saw them try and refused them (the strangers really knocked).
  expect(`${a.log}${b.log}`).toMatch(/Authorization Violation|authentication error|authorization/i)

  // Positive control: a third member with the right credentials, routing to one member only, joins
  // the whole cluster (gossip with advertised addresses, authorised on every route).
  start(c, [a], AUTH)
  await until(
    'the new member to route to both members',
    async () => (await routes(c)) === 2 && (await routes(a)) === 2 && (await routes(b)) === 2,
  )
  const after = await observe([a, b, c, stranger, wrong], 2000)
  expect(after['member-c']).toMatchObject({max: 2, min: 2})
  expect(after.stranger.max).toBe(0)
  expect(after['wrong-credentials'].max).toBe(0)
  // member-a's routes are to member-b and member-c, by server id, and to no stranger
  const id = async (s: Server) => ((await (await fetch(`http://${s.ip}:${s.ports.monitor}/varz`)).json()) as {server_id: string}).server_id
  const routez = (await (await fetch(`http://${a.ip}:${a.ports.monitor}/routez`)).json()) as {routes: Array<{remote_id: string}>}
  expect(routez.routes.map((r) => r.remote_id).sort()).toEqual([await id(b), await id(c)].sort())
  expect(routez.routes.map((r) => r.remote_id)).not.toContain(await id(stranger))
  expect(routez.routes.map((r) => r.remote_id)).not.toContain(await id(wrong))
}, 60_000)

/** A CA and one certificate (for every member: IP SANs of `ips`, server and client use) signed by it. */
function pki(name: string, ips: string[]): RouteTlsFiles {
  const base = join(dir, name)
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  execFileSync(
    'openssl',
    ['req', '-x509', ...ec, '-keyout', `${base}-ca.key`, '-out', `${base}-ca.pem`, '-days', '1', '-subj', `/CN=${name} CA`],
    {stdio: 'ignore'},
  )
  execFileSync('openssl', ['req', ...ec, '-keyout', `${base}-key.pem`, '-out', `${base}.csr`, '-subj', `/CN=${name}`], {stdio: 'ignore'})
  writeFileSync(`${base}.ext`, `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')}\nextendedKeyUsage=serverAuth,clientAuth\n`)
  execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      `${base}-ca.pem`,
      '-CAkey',
      `${base}-ca.key`,
      '-CAcreateserial',
      '-out',
      `${base}-cert.pem`,
      '-days',
      '1',
      '-extfile',
      `${base}.ext`,
    ],
    {stdio: 'ignore'},
  )
  return {ca_file: `${base}-ca.pem`, cert_file: `${base}-cert.pem`, key_file: `${base}-key.pem`}
}

test("route TLS: members with the forest CA's certificate form a cluster; the right password without TLS, or with another CA's certificate, cannot join", async () => {
  const a = await server('tls-a', '127.0.60.21')
  const b = await server('tls-b', '127.0.60.22')
  const plain = await server('tls-plain', '127.0.60.23')
  const rogue = await server('tls-rogue', '127.0.60.24')
  const c = await server('tls-c', '127.0.60.25')
  const forestTls = pki('forest', [a.ip, b.ip, c.ip, plain.ip, rogue.ip])
  const rogueTls = pki('rogue', [a.ip, b.ip, c.ip, plain.ip, rogue.ip])

  const conf = start(a, [b], AUTH, forestTls)
  expect(conf).toMatch(
    /tls \{\n\s+ca_file: "[^"]+forest-ca.pem"\n\s+cert_file: "[^"]+forest-cert.pem"\n\s+key_file: "[^"]+forest-key.pem"\n\s+verify: true/,
  )
  start(b, [a], AUTH, forestTls)
  await until('the two TLS members to route to each other', async () => (await routes(a)) === 1 && (await routes(b)) === 1)
  const varz = (await (await fetch(`http://${a.ip}:${a.ports.monitor}/varz`)).json()) as {
    cluster: {tls_required?: boolean; tls_verify?: boolean}
  }
  expect(varz.cluster).toMatchObject({tls_required: true, tls_verify: true})

  // Both know the route password; one speaks no TLS, the other shows a certificate of another CA.
  start(plain, [a, b], AUTH)
  start(rogue, [a, b], AUTH, rogueTls)
  await until(
    'both strangers to answer on monitoring',
    async () => (await routes(plain)) !== undefined && (await routes(rogue)) !== undefined,
  )
  const seen = await observe([a, b, plain, rogue], 5000)
  expect(seen['tls-a']).toMatchObject({max: 1, min: 1})
  expect(seen['tls-b']).toMatchObject({max: 1, min: 1})
  expect(seen['tls-plain']).toMatchObject({max: 0, min: 0})
  expect(seen['tls-rogue']).toMatchObject({max: 0, min: 0})
  expect(`${a.log}${b.log}`).toMatch(/TLS/)

  // Positive control: a member with the forest's certificate joins.
  start(c, [a], AUTH, forestTls)
  await until(
    'the new TLS member to route to both members',
    async () => (await routes(c)) === 2 && (await routes(a)) === 2 && (await routes(b)) === 2,
  )
}, 60_000)
