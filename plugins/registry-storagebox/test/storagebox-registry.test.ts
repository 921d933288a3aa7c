import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {request} from 'node:http'
import {join} from 'node:path'

import type {PluginContext, RegistryBackend} from 'morpheus/plugin-api'

import {pluginContext, rejection} from '../../../test/helpers/unit.js'
import {freePort, startApache, type ApacheServer} from '../../../test/fixtures/webdav/apache.js'
import {startFaultProxy, type FaultProxy} from '../../../test/fixtures/webdav/fault-proxy.js'
import {createStorageBoxRegistry, revisionOf, StorageBoxRegistry} from '../src/storagebox-registry.js'
import registries from '../src/hooks/registries.js'

let apache: ApacheServer
let proxy: FaultProxy
let folderCount = 0

beforeAll(async () => {
  apache = await startApache({extra: ['<Location "/forbidden">', '  Require all denied', '</Location>']})
  proxy = await startFaultProxy(apache.origin)
})
afterAll(async () => {
  await proxy?.close()
  apache?.stop()
})
afterEach(() => proxy.set(null))

function backend(config: Record<string, unknown> = {}, extra: Partial<PluginContext> = {}): StorageBoxRegistry {
  folderCount += 1
  const ctx = pluginContext(
    {password: apache.password, url: `${apache.origin}/t${folderCount}/registry.json`, username: apache.username, ...config},
    '/',
    extra,
  )
  return createStorageBoxRegistry(ctx) as StorageBoxRegistry
}

const doc = (n: number) =>
  JSON.stringify({forests: {}, n, nodes: {}, updated_at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(), version: 1}) + '\n'

function auth(): string {
  return `Basic ${Buffer.from(`${apache.username}:${apache.password}`).toString('base64')}`
}

async function raw(method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  const r = await fetch(`${apache.origin}${path}`, {body, headers: {authorization: auth(), ...headers}, method})
  return {body: await r.text(), etag: r.headers.get('etag'), status: r.status}
}

function expectClean(error: any, url: string) {
  expect(error.message).toContain(url)
  expect(`${error.message} ${error.hint ?? ''}`).not.toContain(apache.password)
  expect(error.hint).toBeTruthy()
}

test("the descriptor: API 2, remote, the seeds' keys, password secret", async () => {
  const [d] = await registries()
  expect(d).toEqual(expect.objectContaining({apiVersion: 2, capabilities: {remote: true}, name: 'storagebox'}))
  expect(Object.keys(d.configSchema!)).toEqual(expect.arrayContaining(['url', 'username', 'password', 'storagebox_host']))
  expect(d.configSchema!.password.secret).toBe(true)
  expect(typeof (await d.load())).toBe('function')
})

describe('on a real Apache mod_dav', () => {
  test('probe: finds the enforced LOCK, the weak ETag and If-None-Match; creates the folder; leaves no scratch file', async () => {
    const b = backend()
    const folder = join(apache.root, `t${folderCount}`)
    expect(existsSync(folder)).toBe(false)
    const probe = await b.probe()
    expect(probe.concurrency).toBe('lock')
    expect(probe.notes.join('\n')).toMatch(/LOCK is exclusive and enforced/)
    expect(probe.notes.join('\n')).toMatch(/weak right after a write/)
    expect(probe.notes.join('\n')).toMatch(/If-None-Match: \* enforced/)
    // mod_dav_fs keeps its own property/lock state in .DAV
    expect(readdirSync(folder).filter((f) => f !== '.DAV')).toEqual([])
  })

  test('create once, update under the lock, stale revisions conflict, no stall while the ETag is weak', async () => {
    const b = backend()
    await b.probe()
    expect(await b.read()).toBeNull()
    const created = await b.write(doc(0), {ifAbsent: true})
    expect(created.revision).toBe(revisionOf(doc(0)))
    expect((await rejection(b.write(doc(1), {ifAbsent: true}))).code).toBe('CONFLICT')
    let revision = created.revision
    for (let i = 1; i <= 5; i++) {
      // Right after a write Apache's ETag is weak, and If-Match with it would always fail.
      const head = await raw('HEAD', `/t${folderCount}/registry.json`)
      if (i === 1) expect(head.etag).toMatch(/^W\//)
      const read = await b.read()
      expect(read!.revision).toBe(revision)
      revision = (await b.write(doc(i), {ifRevision: read!.revision})).revision
    }
    expect((await b.read())!.body).toBe(doc(5))
    const stale = await rejection(b.write(doc(9), {ifRevision: revisionOf(doc(4))}))
    expect(stale.code).toBe('CONFLICT')
    expect((await b.read())!.body).toBe(doc(5))
  })

  test('a second backend instance (another device) sees the same document and conflicts with a stale read', async () => {
    const a = backend()
    const url = `${apache.origin}/t${folderCount}/registry.json`
    const b = createStorageBoxRegistry(pluginContext({password: apache.password, url, username: apache.username}))
    await a.probe()
    await a.write(doc(0), {ifAbsent: true})
    const ra = await a.read()
    const rb = await b.read()
    expect(rb!.body).toBe(doc(0))
    await b.write(doc(1), {ifRevision: rb!.revision})
    expect((await rejection(a.write(doc(2), {ifRevision: ra!.revision}))).code).toBe('CONFLICT')
    expect((await a.read())!.body).toBe(doc(1))
  })

  test('history keeps the revisions replaced (the last N), each restorable byte for byte', async () => {
    const b = backend({history_revisions: 3})
    await b.probe()
    await b.write(doc(0), {ifAbsent: true})
    for (let i = 1; i <= 5; i++) await b.write(doc(i), {ifRevision: (await b.read())!.revision})
    await b.prune()
    const history = await b.history(10)
    expect(history).toHaveLength(3)
    const bodies = await Promise.all(history.map(async (h) => (await b.readRevision(h.revision))!.body))
    expect(bodies).toEqual([doc(4), doc(3), doc(2)])
    expect(history[0].modified).toBe('2026-01-01T00:00:04.000Z')
    expect(await b.readRevision('../registry')).toBeNull()
    expect(await b.readRevision('20990101T000000000Z-000000000000')).toBeNull()
  })

  test('secrets live in their own file beside the document, never in it', async () => {
    const b = backend()
    await b.probe()
    await b.write(doc(0), {ifAbsent: true})
    await b.secrets.set('forest-1', 'route_password', 's3cret-value')
    await b.secrets.set('forest-2', 'route_password', 'other')
    expect(await b.secrets.get('forest-1', 'route_password')).toBe('s3cret-value')
    expect((await b.read())!.body).not.toContain('s3cret-value')
    const onDisk = readFileSync(join(apache.root, `t${folderCount}`, 'registry.secrets.json'), 'utf8')
    expect(JSON.parse(onDisk).forests['forest-1']).toEqual({route_password: 's3cret-value'})
    await b.secrets.delete('forest-1')
    expect(await b.secrets.get('forest-1', 'route_password')).toBeUndefined()
    expect(await b.secrets.get('forest-2', 'route_password')).toBe('other')
  })

  test('a lock left by a writer that died blocks others only until the server expires it', async () => {
    const b = backend({lock_timeout_seconds: 1})
    await b.probe()
    await b.write(doc(0), {ifAbsent: true})
    const path = `/t${folderCount}/registry.json`
    const dead = await raw(
      'LOCK',
      path,
      {'content-type': 'application/xml', depth: '0', timeout: 'Second-3'},
      '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>dead writer</D:owner></D:lockinfo>',
    )
    expect(dead.status).toBe(200)
    const locked = await rejection(b.write(doc(1), {ifRevision: (await b.read())!.revision}))
    expect(locked.code).toBe('LOCKED')
    expectClean(locked, `${apache.origin}${path}`)
    const patient = createStorageBoxRegistry(
      pluginContext({lock_timeout_seconds: 10, password: apache.password, url: `${apache.origin}${path}`, username: apache.username}),
    )
    await patient.write(doc(1), {ifRevision: (await patient.read())!.revision})
    expect((await patient.read())!.body).toBe(doc(1))
  })

  test('a server with neither an enforced LOCK nor If-Match: probe says none and writes are refused, naming what it lacks', async () => {
    folderCount += 1
    const url = `${proxy.origin}/t${folderCount}/registry.json`
    const b = createStorageBoxRegistry(pluginContext({password: apache.password, url, username: apache.username}))
    proxy.set({methods: ['LOCK'], status: 405, stripHeaders: ['if-match']})
    const again = await b.probe()
    expect(again.concurrency).toBe('none')
    expect(again.notes.join('\n')).toMatch(/WebDAV LOCK unavailable/)
    expect(again.notes.join('\n')).toMatch(/If-Match ignored/)
    expect(again.notes.at(-1)).toMatch(/lacks an exclusive WebDAV LOCK that it enforces on writes and an atomic If-Match/)
    const refused = await rejection(b.write(doc(0), {ifAbsent: true}))
    expect(refused.code).toBe('UNSUPPORTED')
    expect(refused.message).toContain(url)
    expect(refused.message).toMatch(/cannot keep concurrent writes safe/)
    expect(existsSync(join(apache.root, `t${folderCount}`, 'registry.json'))).toBe(false)
  })

  test('a LOCK that stops working mid-life makes the backend probe again instead of writing unsafely', async () => {
    const warnings: string[] = []
    folderCount += 1
    const url = `${proxy.origin}/t${folderCount}/registry.json`
    const b = createStorageBoxRegistry(
      pluginContext({password: apache.password, url, username: apache.username}, '/', {
        log: {debug() {}, info() {}, warn: (m) => warnings.push(m)},
      }),
    )
    await b.probe()
    await b.write(doc(0), {ifAbsent: true})
    proxy.set({methods: ['LOCK'], status: 501, stripHeaders: ['if-match']})
    const refused = await rejection(b.write(doc(1), {ifRevision: (await b.read())!.revision}))
    expect(warnings.join('\n')).toMatch(/probing .* again/)
    expect(refused.code).toBe('UNSUPPORTED')
    proxy.set(null)
    expect((await b.read())!.body).toBe(doc(0))
  })
})

describe('racing writers', () => {
  test('a lost race keeps the lock: the retry reads without a request and cannot lose again; others wait meanwhile', async () => {
    folderCount += 1
    const url = `${proxy.origin}/t${folderCount}/registry.json`
    const make = (config: Record<string, unknown> = {}) =>
      createStorageBoxRegistry(pluginContext({password: apache.password, url, username: apache.username, ...config}))
    const a = make()
    const b = make()
    await a.probe()
    await a.write(doc(0), {ifAbsent: true})
    const readA = await a.read()
    const readB = await b.read()
    await b.write(doc(1), {ifRevision: readB!.revision})
    expect((await rejection(a.write(doc(2), {ifRevision: readA!.revision}))).code).toBe('CONFLICT')
    // a holds the lock now: another writer cannot get in...
    const c = make({lock_timeout_seconds: 0})
    const readC = await c.read()
    expect(readC!.body).toBe(doc(1))
    expect((await rejection(c.write(doc(3), {ifRevision: readC!.revision}))).code).toBe('LOCKED')
    // ...and a's next read is served from what it read under the lock, without a request.
    const before = proxy.state.seen.length
    const again = await a.read()
    expect(proxy.state.seen.length).toBe(before)
    expect(again!.body).toBe(doc(1))
    await a.write(doc(2), {ifRevision: again!.revision})
    expect((await b.read())!.body).toBe(doc(2))
    // The lock is released after the write: c gets in now.
    await make().write(doc(3), {ifRevision: (await c.read())!.revision})
    expect((await b.read())!.body).toBe(doc(3))
  })

  test('a kept lock that no write uses is released within seconds', async () => {
    folderCount += 1
    const url = `${apache.origin}/t${folderCount}/registry.json`
    const make = (config: Record<string, unknown> = {}) =>
      createStorageBoxRegistry(pluginContext({password: apache.password, url, username: apache.username, ...config}))
    const a = make()
    await a.probe()
    await a.write(doc(0), {ifAbsent: true})
    const stale = await a.read()
    const b = make()
    await b.write(doc(1), {ifRevision: (await b.read())!.revision})
    expect((await rejection(a.write(doc(2), {ifRevision: stale!.revision}))).code).toBe('CONFLICT')
    const patient = make({lock_timeout_seconds: 5})
    const started = Date.now()
    await patient.write(doc(3), {ifRevision: (await patient.read())!.revision})
    expect(Date.now() - started).toBeLessThan(4000)
    expect((await b.read())!.body).toBe(doc(3))
  })

  test('a torn read (Apache sizing the old file and sending the new one) is read again, never returned', async () => {
    folderCount += 1
    const url = `${proxy.origin}/t${folderCount}/registry.json`
    const b = createStorageBoxRegistry(pluginContext({password: apache.password, url, username: apache.username}))
    await b.probe()
    await b.write(doc(0), {ifAbsent: true})
    proxy.set({methods: ['GET'], tearOnce: true})
    const gets = proxy.state.seen.length
    expect((await b.read())!.body).toBe(doc(0))
    expect(proxy.state.torn).toBe(true)
    expect(proxy.state.seen.slice(gets).filter((s) => s.startsWith('GET'))).toHaveLength(2)
  })
})

describe('faults: each error names the URL, never the password, and says what to do', () => {
  test('server down: UNREACHABLE, transient', async () => {
    const port = await freePort('127.0.70.1')
    const url = `http://127.0.70.1:${port}/morpheus/registry.json`
    const b = createStorageBoxRegistry(pluginContext({password: apache.password, url, username: 'u1'}))
    const e = await rejection(b.read())
    expect(e).toEqual(expect.objectContaining({code: 'UNREACHABLE', transient: true}))
    expect(e.message).toMatch(/connection refused/)
    expectClean(e, url)
  })

  test('401 wrong password and 403 forbidden: AUTH, not transient', async () => {
    const url = `${apache.origin}/t1/registry.json`
    const wrong = createStorageBoxRegistry(pluginContext({password: `${apache.password}-wrong`, url, username: apache.username}))
    const e401 = await rejection(wrong.read())
    expect(e401.code).toBe('AUTH')
    expect(e401.transient).toBeUndefined()
    expect(e401.message).toMatch(/401/)
    expectClean(e401, url)
    expect(e401.message).not.toContain(`${apache.password}-wrong`)
    const forbidden = createStorageBoxRegistry(
      pluginContext({password: apache.password, url: `${apache.origin}/forbidden/registry.json`, username: apache.username}),
    )
    const e403 = await rejection(forbidden.read())
    expect(e403.code).toBe('AUTH')
    expect(e403.message).toMatch(/403/)
    expectClean(e403, `${apache.origin}/forbidden/registry.json`)
  })

  test('missing folder: reading names it and says to run registry init', async () => {
    const url = `${apache.origin}/no-such-folder/registry.json`
    const e = await rejection(createStorageBoxRegistry(pluginContext({password: apache.password, url, username: apache.username})).read())
    expect(e.code).toBe('NOT_FOUND')
    expect(e.hint).toMatch(/registry init/)
    expectClean(e, `${apache.origin}/no-such-folder/`)
  })

  test('507 insufficient storage: FAILED, not transient, document unchanged', async () => {
    folderCount += 1
    const url = `${proxy.origin}/t${folderCount}/registry.json`
    const b = createStorageBoxRegistry(pluginContext({password: apache.password, url, username: apache.username}))
    await b.probe()
    await b.write(doc(0), {ifAbsent: true})
    proxy.set({methods: ['PUT'], status: 507})
    const e = await rejection(b.write(doc(1), {ifRevision: (await b.read())!.revision}))
    expect(e.code).toBe('FAILED')
    expect(e.transient).toBeUndefined()
    expect(e.message).toMatch(/507 Insufficient Storage.*out of space/)
    expect(e.message).toContain(`${proxy.origin}/t${folderCount}/`)
    expectClean(e, proxy.origin)
    proxy.set(null)
    expect((await b.read())!.body).toBe(doc(0))
  })

  test('5xx and a reset connection are transient', async () => {
    const url = `${proxy.origin}/t1/registry.json`
    const b = createStorageBoxRegistry(pluginContext({password: apache.password, url, username: apache.username}))
    proxy.set({status: 503})
    const e503 = await rejection(b.read())
    expect(e503).toEqual(expect.objectContaining({code: 'UNREACHABLE', transient: true}))
    expectClean(e503, url)
    proxy.set({reset: true})
    const reset = await rejection(b.read())
    expect(reset).toEqual(expect.objectContaining({code: 'UNREACHABLE', transient: true}))
    expectClean(reset, url)
  })

  test('timeout: UNREACHABLE, transient, after timeout_seconds', async () => {
    const url = `${proxy.origin}/t1/registry.json`
    const b = createStorageBoxRegistry(pluginContext({password: apache.password, timeout_seconds: 1, url, username: apache.username}))
    proxy.set({hang: true})
    const started = Date.now()
    const e = await rejection(b.read())
    expect(Date.now() - started).toBeLessThan(5000)
    expect(e).toEqual(expect.objectContaining({code: 'UNREACHABLE', transient: true}))
    expect(e.message).toMatch(/no answer within 1 s/)
    expectClean(e, url)
  })

  test('a document cut off in transit is never returned', async () => {
    folderCount += 1
    const url = `${proxy.origin}/t${folderCount}/registry.json`
    const b = createStorageBoxRegistry(pluginContext({password: apache.password, url, username: apache.username}))
    await b.probe()
    await b.write(doc(0), {ifAbsent: true})
    proxy.set({cutResponse: true, methods: ['GET']})
    const e = await rejection(b.read())
    expect(e).toEqual(expect.objectContaining({code: 'UNREACHABLE', transient: true}))
    expectClean(e, url)
  })

  test("the command's interrupt (context.signal) does not stop registry I/O: after a Ctrl-C the end is still written, under a lock that is released", async () => {
    const controller = new AbortController()
    const b = backend({}, {signal: controller.signal})
    await b.probe()
    await b.write(doc(0), {ifAbsent: true})
    controller.abort()
    const read = await b.read()
    const {revision} = await b.write(doc(1), {ifRevision: read!.revision})
    await b.secrets!.set('forest-1', 'cluster_auth', 'x')
    expect(await b.secrets!.get('forest-1', 'cluster_auth')).toBe('x')
    expect((await b.read())!.revision).toBe(revision)
    // The lock was released (UNLOCK ran despite the interrupt): another writer gets it at once.
    const other = backend({lock_timeout_seconds: 1, url: `${apache.origin}/t${folderCount}/registry.json`})
    await other.probe()
    await other.write(doc(2), {ifRevision: revision})
    expect((await b.read())!.body).toBe(doc(2))
  })

  test('an interrupted upload leaves the previous document in place, and the previous revision restorable', async () => {
    const b = backend()
    await b.probe()
    await b.write(doc(0), {ifAbsent: true})
    await b.write(doc(1), {ifRevision: (await b.read())!.revision})
    const path = `/t${folderCount}/registry.json`
    // A client that dies half-way through a PUT (Content-Length promises more than it sends).
    await new Promise<void>((resolve) => {
      const req = request({
        headers: {authorization: auth(), 'content-length': '5000'},
        host: apache.host,
        method: 'PUT',
        path,
        port: apache.port,
      })
      req.on('error', () => resolve())
      req.write('{"version": 1, "forests": {')
      setTimeout(() => {
        req.destroy()
        setTimeout(resolve, 300)
      }, 200)
    })
    expect((await b.read())!.body).toBe(doc(1))
    // And our own write interrupted (the caller's signal fires while the PUT hangs).
    folderCount += 1
    const url = `${proxy.origin}/t${folderCount}/registry.json`
    const controller = new AbortController()
    const viaProxy = createStorageBoxRegistry(pluginContext({password: apache.password, url, username: apache.username}))
    await viaProxy.probe()
    await viaProxy.write(doc(0), {ifAbsent: true})
    const read = await viaProxy.read()
    proxy.set({hang: true, methods: ['PUT']})
    setTimeout(() => controller.abort(), 300)
    const aborted = await rejection(viaProxy.write(doc(1), {ifRevision: read!.revision}, {signal: controller.signal}))
    expect(aborted.name).toBe('AbortError')
    proxy.set(null)
    const again: RegistryBackend = createStorageBoxRegistry(pluginContext({password: apache.password, url, username: apache.username}))
    expect((await again.read())!.body).toBe(doc(0))
  })
})
