/**
 * The S3 backend against the in-process S3 simulator (test/fixtures/fake-s3.ts), which enforces
 * conditional writes and checks every request's SigV4 signature. Compare-and-swap itself can only
 * be tested here: no S3 server that enforces it installs on this machine (see docs/s3.md).
 */
import type {PluginContext, RegistryBackend} from 'morpheus/plugin-api'

import {pluginContext, rejection} from '../../../test/helpers/unit.js'
import {createS3Registry, type S3Registry} from '../src/s3-registry.js'
import {FakeS3} from './fixtures/fake-s3.js'

const ACCESS = 'AKIAFAKE0000S3TEST'
const SECRET = 'fake-Secret/Key+0123456789abcdefXYZ'

let fake: FakeS3

function backend(config: Record<string, unknown> = {}, extra: Partial<PluginContext> = {}): S3Registry {
  return createS3Registry(
    pluginContext(
      {
        access_key_id: ACCESS,
        bucket: 'morpheus',
        endpoint: fake.endpoint,
        force_path_style: true,
        key: 'forests/registry.json',
        region: 'eu-central-1',
        secret_access_key: SECRET,
        timeout_seconds: 5,
        ...config,
      },
      '/',
      extra,
    ),
  ) as S3Registry
}

beforeEach(async () => {
  fake = new FakeS3({
    buckets: {morpheus: {}, versioned: {versioning: true}},
    credentials: [{accessKeyId: ACCESS, secretAccessKey: SECRET}],
    region: 'eu-central-1',
  })
  await fake.start()
})
afterEach(async () => {
  await fake.stop()
  expect(fake.unhandled).toEqual([])
})

describe('read and conditional write', () => {
  test('no document: read is null; the first write creates it with If-None-Match: *', async () => {
    const b = backend()
    expect(b.location).toBe(`s3://morpheus/forests/registry.json on ${new URL(fake.endpoint).host}`)
    expect(await b.read()).toBeNull()
    const {revision} = await b.write('{"a":1}', {ifAbsent: true})
    expect(revision).toMatch(/^[0-9a-f]{32}$/)
    const put = fake.requests.find((r) => r.method === 'PUT')!
    expect(put.headers['if-none-match']).toBe('*')
    expect(put.headers['if-match']).toBeUndefined()
    expect(put.headers['content-type']).toBe('application/json')
    expect(await b.read()).toEqual({body: '{"a":1}', revision})
    expect(fake.object('morpheus', 'forests/registry.json')).toBe('{"a":1}')
  })

  test('a second create is a CONFLICT (412), and the first document stays', async () => {
    const b = backend()
    await b.write('first', {ifAbsent: true})
    const error = await rejection(b.write('second', {ifAbsent: true}))
    expect(error.code).toBe('CONFLICT')
    expect(error.message).toContain('412 PreconditionFailed')
    expect(fake.object('morpheus', 'forests/registry.json')).toBe('first')
  })

  test('an update sends If-Match with the quoted ETag; a stale revision is a CONFLICT', async () => {
    const b = backend()
    const r1 = (await b.write('one', {ifAbsent: true})).revision
    const r2 = (await b.write('two', {ifRevision: r1})).revision
    expect(fake.requests.filter((r) => r.method === 'PUT')[1].headers['if-match']).toBe(`"${r1}"`)
    expect(r2).not.toBe(r1)
    const stale = await rejection(b.write('three', {ifRevision: r1}))
    expect(stale.code).toBe('CONFLICT')
    expect(fake.object('morpheus', 'forests/registry.json')).toBe('two')
  })

  test('If-Match on a document deleted since it was read is a CONFLICT too', async () => {
    const b = backend()
    const r1 = (await b.write('one', {ifAbsent: true})).revision
    fake.buckets.get('morpheus')!.objects.clear()
    expect((await rejection(b.write('two', {ifRevision: r1}))).code).toBe('CONFLICT')
  })

  test('409 ConditionalRequestConflict counts as a CONFLICT', async () => {
    const b = backend()
    fake.failNext({
      code: 'ConditionalRequestConflict',
      message: 'A conflicting conditional operation is currently in progress',
      status: 409,
    })
    const error = await rejection(b.write('x', {ifAbsent: true}))
    expect(error.code).toBe('CONFLICT')
    expect(error.message).toContain('409 ConditionalRequestConflict')
  })

  test('a conditional PUT while another is still uploading to the same key gets 409 from the simulator, a CONFLICT here', async () => {
    const b = backend()
    const r1 = (await b.write('one', {ifAbsent: true})).revision
    // A slow upload: headers now, body later (the simulator holds the key until the body is in).
    const {request} = await import('node:http')
    const url = new URL(`${fake.endpoint}/morpheus/forests/registry.json`)
    const slow = request({
      headers: {'content-length': '4', 'if-match': `"${r1}"`},
      host: url.hostname,
      method: 'PUT',
      path: url.pathname,
      port: url.port,
    })
    slow.on('error', () => {})
    const slowDone = new Promise((resolve) =>
      slow.on('response', (res) => {
        res.resume()
        resolve(res.statusCode)
      }),
    )
    slow.write('ab')
    await new Promise((r) => setTimeout(r, 100))
    const error = await rejection(b.write('two', {ifRevision: r1}))
    expect(error.code).toBe('CONFLICT')
    expect(error.message).toContain('ConditionalRequestConflict')
    slow.end('cd')
    // The unsigned slow upload itself is refused once its body is in.
    expect(await slowDone).toBe(403)
    expect(fake.object('morpheus', 'forests/registry.json')).toBe('one')
  })

  test('eight writers racing through a read-modify-write loop: every change lands exactly once', async () => {
    const writers = Array.from({length: 8}, () => backend())
    await writers[0].write(JSON.stringify({n: []}), {ifAbsent: true})
    let conflicts = 0
    await Promise.all(
      writers.map(async (b, i) => {
        for (;;) {
          const current = (await b.read())!
          const doc = JSON.parse(current.body) as {n: number[]}
          doc.n.push(i)
          try {
            await b.write(JSON.stringify(doc), {ifRevision: current.revision})
            return
          } catch (error) {
            if ((error as {code?: string}).code !== 'CONFLICT') throw error
            conflicts++
          }
        }
      }),
    )
    const final = JSON.parse(fake.object('morpheus', 'forests/registry.json')!) as {n: number[]}
    expect(final.n.sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    // The race really happened: some writes lost and were retried.
    expect(conflicts).toBeGreaterThan(0)
  })
})

describe('errors: codes, transient flags, hints, and never a secret', () => {
  const noSecret = (error: {message: string; hint?: string}) => {
    for (const text of [error.message, error.hint ?? '']) {
      expect(text).not.toContain(SECRET)
      expect(text).not.toContain(ACCESS)
    }
  }

  test('a wrong secret key: AUTH (403 SignatureDoesNotMatch), with a hint', async () => {
    const error = await rejection(backend({secret_access_key: 'wrong-secret-value-1234'}).read())
    expect(error.code).toBe('AUTH')
    expect(error.message).toContain('SignatureDoesNotMatch')
    expect(error.hint).toContain('registry.access_key_id')
    expect(error.message).not.toContain('wrong-secret-value-1234')
    noSecret(error)
  })

  test('an unknown access key: AUTH (403 InvalidAccessKeyId)', async () => {
    const error = await rejection(backend({access_key_id: 'AKIAUNKNOWN'}).write('x', {ifAbsent: true}))
    expect(error.code).toBe('AUTH')
    expect(error.message).toContain('InvalidAccessKeyId')
    expect(error.message).not.toContain('AKIAUNKNOWN')
  })

  test('the wrong region: PREREQUISITE naming registry.region', async () => {
    const error = await rejection(backend({region: 'us-west-2'}).read())
    expect(error.code).toBe('PREREQUISITE')
    expect(error.hint).toContain('registry.region')
    noSecret(error)
  })

  test('a bucket that does not exist: PREREQUISITE, not transient', async () => {
    const error = await rejection(backend({bucket: 'nope'}).read())
    expect(error.code).toBe('PREREQUISITE')
    expect(error.message).toContain('the bucket does not exist')
    expect(error.transient).toBeUndefined()
  })

  test.each([
    [{code: 'InternalError', status: 500}, 'FAILED'],
    [{code: 'SlowDown', status: 503}, 'FAILED'],
    [{reset: true as const}, 'UNREACHABLE'],
  ])('%j: transient %s, so the core retries it', async (fault, code) => {
    fake.failNext(fault)
    const error = await rejection(backend().read())
    expect(error.code).toBe(code)
    expect(error.transient).toBe(true)
    noSecret(error)
    // And the next try works.
    expect(await backend().read()).toBeNull()
  })

  test('an answer slower than timeout_seconds: transient', async () => {
    fake.failNext({delayMs: 2500})
    const started = Date.now()
    const error = await rejection(backend({timeout_seconds: 1}).read())
    expect(Date.now() - started).toBeLessThan(2400)
    expect(error.transient).toBe(true)
  })

  test('nothing listening: UNREACHABLE, not transient, naming the endpoint setting', async () => {
    await fake.stop()
    const error = await rejection(backend().read())
    expect(error.code).toBe('UNREACHABLE')
    expect(error.transient).toBeUndefined()
    expect(error.hint).toContain('registry.endpoint')
    await fake.start()
  })

  test('the abort signal stops a call in flight with an AbortError', async () => {
    fake.failNext({delayMs: 3000})
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 100)
    const started = Date.now()
    const error = await rejection(backend().read({signal: controller.signal}))
    expect(error.name).toBe('AbortError')
    expect(Date.now() - started).toBeLessThan(2000)
  })

  test("the command's interrupt (context.signal) does not stop a registry call: after a Ctrl-C the core still records how the operation ended", async () => {
    fake.failNext({delayMs: 400})
    const controller = new AbortController()
    const b = backend({key: 'interrupt/registry.json'}, {signal: controller.signal})
    setTimeout(() => controller.abort(), 100)
    await b.write('{"a":1}', {ifAbsent: true})
    expect(controller.signal.aborted).toBe(true)
    // And a call that starts after the interrupt, secrets included.
    const read = await b.read()
    expect(read!.body).toBe('{"a":1}')
    await b.write('{"a":2}', {ifRevision: read!.revision})
    await b.secrets!.set('forest-1', 'cluster_auth', 'x')
    expect(fake.object('morpheus', 'interrupt/registry.json')).toBe('{"a":2}')
    expect(await b.secrets!.get('forest-1', 'cluster_auth')).toBe('x')
  })
})

describe('configuration', () => {
  test.each([
    [{bucket: undefined}, 'registry.bucket is not set'],
    [{bucket: 'a/b'}, 'is not a bucket name'],
    [{key: '/abs.json'}, 'must not start or end with "/"'],
    [{endpoint: 'ftp://x'}, 'must be an http:// or https:// URL'],
    [{endpoint: 'not a url'}, 'registry.endpoint is not a URL'],
    [{secret_access_key: undefined}, 'registry.secret_access_key is not set'],
  ])('%j is refused: %s', (config, message) => {
    let error: any
    try {
      backend(config)
    } catch (e) {
      error = e
    }
    expect(error?.code).toBe('PREREQUISITE')
    expect(error.message).toContain(message)
    expect(error.message).not.toContain(SECRET)
  })

  test('credentials in the endpoint URL are refused without repeating them', () => {
    let error: any
    try {
      backend({endpoint: 'http://user:hunter2-secret@127.0.0.1:9000'})
    } catch (e) {
      error = e
    }
    expect(error.code).toBe('PREREQUISITE')
    expect(error.message + error.hint).not.toContain('hunter2-secret')
  })

  test('without keys in the config, the standard AWS chain (here: AWS_ACCESS_KEY_ID in the environment) signs the requests', async () => {
    const saved = {id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY}
    process.env.AWS_ACCESS_KEY_ID = ACCESS
    process.env.AWS_SECRET_ACCESS_KEY = SECRET
    try {
      const b = backend({access_key_id: undefined, secret_access_key: undefined})
      await b.write('{}', {ifAbsent: true})
      expect(fake.requests.at(-1)!.headers.authorization).toContain(`Credential=${ACCESS}/`)
      process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret'
      expect((await rejection(backend({access_key_id: undefined, secret_access_key: undefined}).read())).code).toBe('AUTH')
    } finally {
      for (const [name, value] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
      ] as const) {
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
      }
    }
  })

  test('a session token is sent (x-amz-security-token) and checked', async () => {
    await fake.stop()
    fake = new FakeS3({credentials: [{accessKeyId: ACCESS, secretAccessKey: SECRET, sessionToken: 'tok-123456'}], region: 'eu-central-1'})
    await fake.start()
    expect(await backend({session_token: 'tok-123456'}).read()).toBeNull()
    expect((await rejection(backend({session_token: 'tok-999999'}).read())).code).toBe('AUTH')
  })
})

describe('probe', () => {
  test('a server that enforces both conditions: compare-and-swap, and the scratch object is gone', async () => {
    const probe = await backend().probe()
    expect(probe.concurrency).toBe('compare-and-swap')
    expect(probe.notes).toEqual([
      'conditional create enforced: a second If-None-Match: * create was refused',
      'conditional update enforced: a write with a stale If-Match ETag was refused',
      expect.stringContaining('bucket versioning is off'),
    ])
    expect(fake.keys('morpheus')).toEqual([])
    const puts = fake.requests.filter((r) => r.method === 'PUT')
    expect(puts.map((r) => r.status)).toEqual([200, 412, 200, 412])
    expect(puts.every((r) => r.path.startsWith('/morpheus/forests/registry.json.probe/'))).toBe(true)
  })

  test('on a versioned bucket every version of the scratch object is deleted (no delete marker left)', async () => {
    const probe = await backend({bucket: 'versioned'}).probe()
    expect(probe.concurrency).toBe('compare-and-swap')
    expect(probe.notes.at(-1)).toContain('bucket versioning is on')
    expect(fake.buckets.get('versioned')!.objects.size).toBe(0)
  })

  test('a server that ignores the conditions (as s3rver and Garage do): none, naming both missing features', async () => {
    fake.enforceConditions = false
    const probe = await backend().probe()
    expect(probe.concurrency).toBe('none')
    expect(probe.notes[0]).toContain('missing: conditional create (If-None-Match: *) and conditional update (If-Match)')
    expect(probe.notes).toContain('the server ignores If-None-Match: * on PUT: a second create of the same key succeeded')
    expect(probe.notes).toContain('the server ignores If-Match on PUT: a write with a stale ETag succeeded')
    expect(fake.keys('morpheus')).toEqual([])
  })

  test('a server that enforces If-None-Match only: none, naming If-Match', async () => {
    fake.enforce.ifMatch = false
    const b = backend()
    const probe = await b.probe()
    expect(probe.concurrency).toBe('none')
    expect(probe.notes[0]).toBe(
      'missing: conditional update (If-Match); two devices writing at once could silently lose a change (AWS S3, Cloudflare R2 and MinIO enforce both)',
    )
  })

  test('a server that answers 501 to If-None-Match: none, and says so', async () => {
    fake.failNext({code: 'NotImplemented', message: 'A header you provided implies functionality that is not implemented', status: 501})
    const probe = await backend().probe()
    expect(probe.concurrency).toBe('none')
    expect(probe.notes[1]).toContain('does not implement If-None-Match on PUT')
  })

  test('refused credentials are an error, not a verdict', async () => {
    expect((await rejection(backend({secret_access_key: 'nope-nope-nope'}).probe())).code).toBe('AUTH')
  })
})

describe('history and readRevision', () => {
  test('versioned bucket: object versions, newest first; each readable; a restore is a new write', async () => {
    const b = backend({bucket: 'versioned'})
    const revs: string[] = []
    let prev: string | undefined
    for (const body of ['v1', 'v2', 'v3']) {
      prev = (await b.write(body, prev ? {ifRevision: prev} : {ifAbsent: true})).revision
      revs.push(prev)
    }
    // Secrets and probe objects share the key's prefix but are not the document's history.
    await b.secrets.set('forest-1', 'route_password', 'pw-123456')
    // Earlier revisions only: the current one is read().
    const history = await b.history(10)
    expect(history.map((h) => h.revision)).toEqual([revs[1], revs[0]])
    expect(history[0].revision).toMatch(/^[0-9a-f]{32}:[A-Za-z0-9_-]{32}$/)
    expect(history[0].size).toBe(2)
    expect(Date.parse(history[0].modified)).not.toBeNaN()
    expect((await b.history(1)).map((h) => h.revision)).toEqual([revs[1]])
    expect(await b.readRevision(revs[0])).toEqual({body: 'v1', revision: revs[0]})
    // By ETag alone, or by version id alone.
    expect((await b.readRevision(revs[1].split(':')[0]))?.body).toBe('v2')
    expect((await b.readRevision(revs[1].split(':')[1]))?.body).toBe('v2')
    expect(await b.readRevision('0123456789abcdef0123456789abcdef:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).toBeNull()
    // read() carries the version id too, and a write with it as ifRevision works.
    const current = (await b.read())!
    expect(current.revision).toBe(revs[2])
    const restored = await b.write((await b.readRevision(revs[0]))!.body, {ifRevision: current.revision})
    expect((await b.read())!).toEqual({body: 'v1', revision: restored.revision})
    expect((await b.history(10)).map((h) => h.revision)).toEqual([revs[2], revs[1], revs[0]])
    // The current revision is readable by its revision too.
    expect((await b.readRevision(restored.revision))?.body).toBe('v1')
  })

  test('history pages through ListObjectVersions when the server answers in small pages', async () => {
    await fake.stop()
    fake = new FakeS3({
      buckets: {versioned: {versioning: true}},
      credentials: [{accessKeyId: ACCESS, secretAccessKey: SECRET}],
      maxKeysCap: 7,
      region: 'eu-central-1',
    })
    await fake.start()
    const b = backend({bucket: 'versioned'})
    const revs = [(await b.write('0', {ifAbsent: true})).revision]
    for (let i = 1; i < 25; i++) revs.push((await b.write(String(i), {ifRevision: revs.at(-1)!})).revision)
    const history = await b.history(20)
    expect(history.map((h) => h.revision)).toEqual(revs.slice(4, 24).reverse())
    expect(new Set(history.map((h) => h.revision)).size).toBe(20)
    expect(fake.requests.filter((r) => 'versions' in r.query)).toHaveLength(3)
  })

  test('unversioned bucket: no earlier revision is kept; the current one reads by its revision, an older one not', async () => {
    const b = backend()
    expect(await b.history(5)).toEqual([])
    const r1 = (await b.write('one', {ifAbsent: true})).revision
    const r2 = (await b.write('two', {ifRevision: r1})).revision
    expect(await b.history(5)).toEqual([])
    expect(await b.readRevision(r2)).toEqual({body: 'two', revision: r2})
    expect(await b.readRevision(r1)).toBeNull()
  })
})

describe('secrets', () => {
  test('kept per forest beside the document, never in it; delete forgets them', async () => {
    const b: RegistryBackend = backend()
    await b.write('{"forests":{}}', {ifAbsent: true})
    await b.secrets!.set('forest-1', 'route_user', 'u1')
    await b.secrets!.set('forest-1', 'route_password', 'pw-secret-1')
    await b.secrets!.set('forest-2', 'route_password', 'pw-secret-2')
    expect(await b.secrets!.get('forest-1', 'route_password')).toBe('pw-secret-1')
    expect(await b.secrets!.get('forest-1', 'route_user')).toBe('u1')
    expect(await b.secrets!.get('forest-1', 'missing')).toBeUndefined()
    expect(await b.secrets!.get('forest-9', 'route_password')).toBeUndefined()
    expect(fake.object('morpheus', 'forests/registry.json')).toBe('{"forests":{}}')
    expect(fake.keys('morpheus')).toEqual([
      'forests/registry.json',
      'forests/registry.json.secrets/forest-1.json',
      'forests/registry.json.secrets/forest-2.json',
    ])
    // Written conditionally, like the document.
    const secretPuts = fake.requests.filter((r) => r.method === 'PUT' && r.path.includes('.secrets/'))
    expect(secretPuts.map((r) => r.headers['if-none-match'] ?? r.headers['if-match'])).toEqual([
      '*',
      expect.stringMatching(/^"[0-9a-f]{32}"$/),
      '*',
    ])
    await b.secrets!.delete('forest-1')
    expect(await b.secrets!.get('forest-1', 'route_password')).toBeUndefined()
    expect(await b.secrets!.get('forest-2', 'route_password')).toBe('pw-secret-2')
    await b.secrets!.delete('forest-1')
  })

  test('on a versioned bucket delete removes every version (no old copy of the credentials is left)', async () => {
    const b = backend({bucket: 'versioned'})
    await b.secrets.set('f1', 'a', 'secret-a')
    await b.secrets.set('f1', 'b', 'secret-b')
    expect(fake.versionsOf('versioned', 'forests/registry.json.secrets/f1.json')).toHaveLength(2)
    await b.secrets.delete('f1')
    expect(fake.versionsOf('versioned', 'forests/registry.json.secrets/f1.json')).toEqual([])
  })

  test('concurrent sets of different names on one forest all land', async () => {
    const stores = Array.from({length: 5}, () => backend().secrets)
    await Promise.all(stores.map((s, i) => s.set('f1', `name${i}`, `value${i}`)))
    for (let i = 0; i < 5; i++) expect(await stores[0].get('f1', `name${i}`)).toBe(`value${i}`)
  })

  test('a forest id that is not a plain name is refused', async () => {
    expect((await rejection(backend().secrets.set('../x', 'a', 'b'))).code).toBe('FAILED')
  })
})
