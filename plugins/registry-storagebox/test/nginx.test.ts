import {existsSync, readdirSync, readFileSync, statSync, writeFileSync, chownSync} from 'node:fs'
import {join} from 'node:path'

import {pluginContext, rejection} from '../../../test/helpers/unit.js'
import {startNginx, type NginxServer} from '../../../test/fixtures/webdav/nginx.js'
import {createStorageBoxRegistry, StorageBoxRegistry} from '../src/storagebox-registry.js'

// nginx with dav-ext, the second real WebDAV server: PUT ignores If-Match and If-None-Match, and
// with dav_ext_lock a LOCK on a missing name creates an empty file (RFC 4918 7.3). Morpheus must
// never leave such a file behind: documents and the secrets file are created under the folder's lock.
let nginx: NginxServer
let plain: NginxServer
let n = 0

beforeAll(async () => {
  nginx = await startNginx({lock: true})
  plain = await startNginx({lock: false})
})
afterAll(() => {
  nginx?.stop()
  plain?.stop()
})

function backend(server = nginx, config: Record<string, unknown> = {}): StorageBoxRegistry {
  n += 1
  return createStorageBoxRegistry(
    pluginContext({password: server.password, url: `${server.origin}/n${n}/registry.json`, username: server.username, ...config}),
  ) as StorageBoxRegistry
}

const folder = (server = nginx) => join(server.root, `n${n}`)
const doc = (i: number) =>
  JSON.stringify({forests: {}, i, nodes: {}, updated_at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), version: 1}) + '\n'

/** Every file under `dir` with its size (no empty file may be among them). */
function files(dir: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const name of readdirSync(dir, {recursive: true}) as string[]) {
    const s = statSync(join(dir, name))
    if (s.isFile()) out[name] = s.size
  }
  return out
}

test('probe on nginx with dav_ext_lock: LOCK enforced, If-None-Match ignored, folder locks enforced, a lock writes; no scratch left', async () => {
  const b = backend()
  const probe = await b.probe()
  const notes = probe.notes.join('\n')
  expect(probe.concurrency).toBe('lock')
  expect(notes).toMatch(/If-None-Match: \* ignored/)
  expect(notes).toMatch(/If-Match ignored/)
  expect(notes).toMatch(/LOCK on a missing name creates an empty file/)
  expect(notes).toMatch(/a lock on a folder is enforced/)
  expect(readdirSync(folder())).toEqual([])
})

test('nginx without dav_ext_lock: probe says none, and a write is refused naming what the server lacks; nothing written', async () => {
  const b = backend(plain)
  const probe = await b.probe()
  expect(probe.concurrency).toBe('none')
  expect(probe.notes.join('\n')).toMatch(/WebDAV LOCK unavailable/)
  expect(probe.notes.at(-1)).toMatch(/lacks an exclusive WebDAV LOCK/)
  const refused = await rejection(b.write(doc(0), {ifAbsent: true}))
  expect(refused.code).toBe('UNSUPPORTED')
  expect(refused.message).toContain(`${plain.origin}/n${n}/registry.json`)
  expect(existsSync(join(folder(plain), 'registry.json'))).toBe(false)
})

test('the document and the secrets file are created with their content; no LOCK ever leaves an empty file (the plant bug)', async () => {
  // A backend that never probed (the usual case: the probe answer is cached by the core).
  const b = backend()
  await b.ensureFolder(`/n${n}/`)
  await b.write(doc(0), {ifAbsent: true})
  expect(readFileSync(join(folder(), 'registry.json'), 'utf8')).toBe(doc(0))
  await b.secrets.set('forest-1', 'cluster_auth', 'route-secret')
  expect(await b.secrets.get('forest-1', 'cluster_auth')).toBe('route-secret')
  expect(JSON.parse(readFileSync(join(folder(), 'registry.secrets.json'), 'utf8')).forests['forest-1']).toEqual({
    cluster_auth: 'route-secret',
  })
  await b.secrets.set('forest-2', 'cluster_auth', 'other')
  await b.secrets.delete('forest-1')
  expect(await b.secrets.get('forest-2', 'cluster_auth')).toBe('other')
  // Deleting from a registry with no secrets file creates none.
  const fresh = backend()
  await fresh.ensureFolder(`/n${n}/`)
  await fresh.secrets.delete('forest-9')
  expect(existsSync(join(folder(), 'registry.secrets.json'))).toBe(false)
  await fresh.write(doc(0), {ifAbsent: true})
  expect(Object.values(files(folder())).every((size) => size > 0)).toBe(true)
})

test('a create of the document on nginx is atomic although PUT ignores If-None-Match: of 8 racing creators exactly one wins', async () => {
  const racers = Array.from(
    {length: 8},
    () =>
      createStorageBoxRegistry(
        pluginContext({password: nginx.password, url: `${nginx.origin}/n${n + 1}/registry.json`, username: nginx.username}),
      ) as StorageBoxRegistry,
  )
  n += 1
  // Even racers that probed (and so know If-None-Match is ignored) must not use it.
  await racers[0].probe()
  const results = await Promise.allSettled(racers.map((r, i) => r.write(doc(i), {ifAbsent: true})))
  const won = results.filter((r) => r.status === 'fulfilled')
  expect(won).toHaveLength(1)
  for (const r of results) if (r.status === 'rejected') expect((r.reason as {code?: string}).code).toBe('CONFLICT')
  const winner = results.findIndex((r) => r.status === 'fulfilled')
  expect(readFileSync(join(folder(), 'registry.json'), 'utf8')).toBe(doc(winner))
})

test("racing first secrets on a fresh registry: every forest's secret is kept", async () => {
  const b = backend()
  await b.ensureFolder(`/n${n}/`)
  await b.write(doc(0), {ifAbsent: true})
  const others = Array.from(
    {length: 6},
    () =>
      createStorageBoxRegistry(
        pluginContext({password: nginx.password, url: `${nginx.origin}/n${n}/registry.json`, username: nginx.username}),
      ) as StorageBoxRegistry,
  )
  await Promise.all(others.map((o, i) => o.secrets.set(`forest-${i}`, 'cluster_auth', `secret-${i}`)))
  for (let i = 0; i < others.length; i++) expect(await b.secrets.get(`forest-${i}`, 'cluster_auth')).toBe(`secret-${i}`)
})

test('an empty secrets file (left by a LOCK of an earlier Morpheus) reads as no secrets and is overwritten; a corrupt one is refused by name, never overwritten', async () => {
  const b = backend()
  await b.ensureFolder(`/n${n}/`)
  await b.write(doc(0), {ifAbsent: true})
  const path = join(folder(), 'registry.secrets.json')
  const owner = statSync(folder())
  writeFileSync(path, '')
  chownSync(path, owner.uid, owner.gid)
  expect(await b.secrets.get('forest-1', 'cluster_auth')).toBeUndefined()
  await b.secrets.set('forest-1', 'cluster_auth', 'x')
  expect(await b.secrets.get('forest-1', 'cluster_auth')).toBe('x')
  writeFileSync(path, '{"forests": [nonsense')
  const corrupt = await rejection(b.secrets.set('forest-2', 'cluster_auth', 'y'))
  expect(corrupt.message).toContain(`${nginx.origin}/n${n}/registry.secrets.json`)
  expect(corrupt.message).toMatch(/corrupt/)
  expect(corrupt.message).not.toContain('nonsense')
  expect(readFileSync(path, 'utf8')).toBe('{"forests": [nonsense')
})

test('updates, history and a lost race on nginx', async () => {
  const b = backend(nginx, {history_revisions: 3})
  await b.write(doc(0), {ifAbsent: true})
  let revision = (await b.read())!.revision
  for (let i = 1; i <= 4; i++) revision = (await b.write(doc(i), {ifRevision: revision})).revision
  expect((await rejection(b.write(doc(9), {ifRevision: 'sha256:stale'}))).code).toBe('CONFLICT')
  const history = await b.history(10)
  expect(history.length).toBeGreaterThanOrEqual(3)
  expect((await b.readRevision(history[0].revision))!.body).toBe(doc(3))
  expect(readFileSync(join(folder(), 'registry.json'), 'utf8')).toBe(doc(4))
})
