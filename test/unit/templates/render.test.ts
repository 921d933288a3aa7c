import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {MorpheusError} from '../../../src/errors.js'
import type {NatsConfigInput, TemplateRenderer} from '../../../src/plugin-api/index.js'
import {createRenderer, TEMPLATES_DIR} from '../../../src/templates/render.js'

let dir: string
let renderer: TemplateRenderer

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'morpheus-render-'))
  renderer = await createRenderer()
})
afterAll(() => rmSync(dir, {force: true, recursive: true}))

const ports = {client: 14222, cluster: 16222, monitor: 18222}

function input(ip: string, peers: string[], extra: Partial<NatsConfigInput> = {}): NatsConfigInput {
  return {
    bind: {client: ip, cluster: ip, monitor: ip},
    files: {store_dir: join(dir, 'js', ip)},
    forest: {id: 'forest-123'},
    node: {id: `node-${ip}`, ip},
    peers: peers.map((p) => ({id: `node-${p}`, ip: p})),
    ports,
    ...extra,
  }
}

let n = 0
/** nats-server's own config test mode (-t): parses the file and checks every field. */
function natsServerAccepts(text: string): {ok: boolean; output: string} {
  const file = join(dir, `nats-${n++}.conf`)
  writeFileSync(file, text)
  const r = spawnSync('nats-server', ['-t', '-c', file], {encoding: 'utf8', timeout: 10_000})
  return {ok: r.status === 0, output: `${r.stdout}${r.stderr}${r.error ?? ''}`}
}

/** The quoted strings of the routes: [...] list. */
function routes(text: string): string[] {
  const block = /routes: \[\n([\s\S]*?)\n\s*\]/.exec(text)
  if (!block) return []
  return block[1].split('\n').map((l) => JSON.parse(l.trim()))
}

describe('nats.conf', () => {
  const ips = ['127.0.9.1', '127.0.9.2', '127.0.9.3']

  test('nats-server -t rejects a broken file (the check itself works)', () => {
    expect(natsServerAccepts('listen: "127.0.0.1:4222"\nno_such_field: 1\n').ok).toBe(false)
  })

  test('a 3-node forest: valid for nats-server, routes to the peers only, own address advertised', () => {
    for (const ip of ips) {
      const text = renderer.natsConfig(input(ip, ips))
      const check = natsServerAccepts(text)
      expect(check.output).toContain('is valid')
      expect(check.ok).toBe(true)
      const others = ips.filter((p) => p !== ip)
      expect(routes(text)).toEqual(others.map((p) => `nats-route://${p}:16222`))
      expect(text).not.toContain(`nats-route://${ip}:`)
      expect(text).toContain(`advertise: "${ip}:16222"`)
      expect(text).toContain(`server_name: "node-${ip}"`)
      expect(text).toContain(`listen: "${ip}:14222"`)
      expect(text).toContain(`http: "${ip}:18222"`)
      expect(text).toMatch(/cluster \{\n\s+name: "forest-123"/)
      expect(text).toContain(`listen: "${ip}:16222"`)
      expect(text).toContain(`store_dir: ${JSON.stringify(join(dir, 'js', ip))}`)
      expect(text).not.toContain('authorization')
    }
  })

  test('a 1-node forest: valid, with no cluster block at all', () => {
    const text = renderer.natsConfig(input('127.0.9.1', ['127.0.9.1']))
    const check = natsServerAccepts(text)
    expect(check.output).toContain('is valid')
    expect(check.ok).toBe(true)
    expect(text).not.toMatch(/^\s*cluster\s*\{/m)
    expect(text).not.toContain('routes')
    expect(text).not.toContain('advertise')
    expect(text).toContain('jetstream {')
    // no peers at all is the same
    expect(renderer.natsConfig(input('127.0.9.1', []))).toBe(text)
  })

  test('IPv6 peers and listen addresses are bracketed; advertise is the node ip', () => {
    const v6 = ['2001:db8::1', '2001:db8::2', '2001:db8::3']
    const text = renderer.natsConfig({...input(v6[0], v6), bind: {client: '::', cluster: '::', monitor: '::'}})
    const check = natsServerAccepts(text)
    expect(check.output).toContain('is valid')
    expect(routes(text)).toEqual(['nats-route://[2001:db8::2]:16222', 'nats-route://[2001:db8::3]:16222'])
    expect(text).toContain('advertise: "[2001:db8::1]:16222"')
    expect(text).toContain('listen: "[::]:14222"')
    expect(text).toContain('http: "[::]:18222"')
    expect(text).toContain('listen: "[::]:16222"')
  })

  test('cluster_auth: credentials URL-encoded in routes, and an authorization block nats-server accepts', () => {
    const auth = {password: 'p@ss:w/rd%"x y', user: 'route user'}
    const text = renderer.natsConfig(input(ips[0], ips, {cluster_auth: auth}))
    const check = natsServerAccepts(text)
    expect(check.output).toContain('is valid')
    expect(check.ok).toBe(true)
    expect(routes(text)).toEqual([
      'nats-route://route%20user:p%40ss%3Aw%2Frd%25%22x%20y@127.0.9.2:16222',
      'nats-route://route%20user:p%40ss%3Aw%2Frd%25%22x%20y@127.0.9.3:16222',
    ])
    for (const r of routes(text)) {
      const url = new URL(r)
      expect(decodeURIComponent(url.username)).toBe(auth.user)
      expect(decodeURIComponent(url.password)).toBe(auth.password)
    }
    expect(text).toContain(`user: ${JSON.stringify(auth.user)}`)
    expect(text).toContain(`password: ${JSON.stringify(auth.password)}`)
  })

  test('optional pid, log and JetStream limits are rendered only when given, and stay valid', () => {
    const plain = renderer.natsConfig(input(ips[0], ips))
    expect(plain).not.toContain('pid_file')
    expect(plain).not.toContain('log_file')
    expect(plain).not.toContain('max_memory_store')
    const full = renderer.natsConfig(
      input(ips[0], ips, {
        files: {log: join(dir, 'n.log'), pid: join(dir, 'n.pid'), store_dir: join(dir, 'js')},
        jetstream: {max_file: '1G', max_memory: '256M'},
      }),
    )
    expect(full).toContain(`pid_file: ${JSON.stringify(join(dir, 'n.pid'))}`)
    expect(full).toContain(`log_file: ${JSON.stringify(join(dir, 'n.log'))}`)
    expect(full).toContain('max_memory_store: 256M')
    expect(full).toContain('max_file_store: 1G')
    const check = natsServerAccepts(full)
    expect(check.output).toContain('is valid')
  })
})

describe('createRenderer', () => {
  test('ships nats.conf in the templates directory', () => {
    expect(TEMPLATES_DIR.endsWith('/templates/')).toBe(true)
    expect(renderer.list()).toContain('nats.conf')
  })

  test('helpers and partials work in any template directory', async () => {
    const own = join(dir, 'own')
    mkdirSync(join(own, 'partials'), {recursive: true})
    writeFileSync(join(own, 'partials', 'greet.hbs'), 'hi {{name}}')
    writeFileSync(
      join(own, 'all.hbs'),
      '{{> greet}}|{{json obj}}|{{hostport h4 1}}|{{hostport h6 2}}|{{#if (eq a b)}}same{{else}}different{{/if}}|{{indent 2 text}}|<{{raw}}>',
    )
    writeFileSync(join(own, 'b.hbs'), '{{missing}}')
    const r = await createRenderer({dirs: [own]})
    // the core's templates are searched after the given directories
    expect(r.list()).toEqual(['all', 'b', 'cloud-init/embedded', 'cloud-init/system', 'nats.conf'])
    const out = r.render('all', {a: 1, b: 1, h4: '10.0.0.1', h6: 'fe80::1', name: 'Ann', obj: {k: [1, 'x']}, raw: '<&>', text: 'x\n\ny'})
    expect(out).toBe('hi Ann|{"k":[1,"x"]}|10.0.0.1:1|[fe80::1]:2|same|  x\n\n  y|<<&>>')
    // strict: a missing variable is an error, not an empty string
    expect(() => r.render('b', {})).toThrow(/missing/)
  })

  test('a missing template is a MorpheusError naming it and the directory', () => {
    let error: unknown
    try {
      renderer.render('nope', {})
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(MorpheusError)
    expect((error as MorpheusError).message).toBe(`template "nope" is missing from ${TEMPLATES_DIR}`)
  })
})
