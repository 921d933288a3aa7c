import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {load} from 'js-yaml'

import type {ForestRecord, RegistryBackend} from '../../../src/plugin-api/index.js'
import {guardBackend} from '../../../src/plugins/guard.js'
import {emptyDocument, serializeDocument} from '../../../src/registry/document.js'
import {migrateRegistry, type MigrateRequest} from '../../../src/registry/migrate.js'
import {MemoryRegistry} from '../../../src/testing/index.js'
import {rejection} from '../../helpers/unit.js'

// `registry migrate` as a domain module, between two in-memory registries and a real config file.

let dir: string
let configFile: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'morpheus-migrate-'))
  configFile = join(dir, 'config.yaml')
  writeFileSync(configFile, 'registry:\n  type: none\nforest:\n  parallel: 2\n', {mode: 0o600})
})
afterEach(() => rmSync(dir, {force: true, recursive: true}))

function forest(id: string): ForestRecord {
  return {
    created_at: '2026-01-01T00:00:00.000Z',
    id,
    last_expansion: null,
    node_count: 1,
    provider: 'local',
    size: 'small',
    status: 'active',
  }
}

/** A source holding two forests (three nodes) and the route credentials of one. */
async function source(): Promise<MemoryRegistry> {
  const s = new MemoryRegistry('memory://source')
  const doc = emptyDocument()
  doc.forests = {'forest-a': forest('forest-a'), 'forest-b': forest('forest-b')}
  doc.nodes = {
    'forest-a': [{created_at: 'x', forest_id: 'forest-a', id: 'a1', ip: '127.0.1.1', role: 'node', status: 'active'}],
    'forest-b': [1, 2].map((i) => ({
      created_at: 'x',
      forest_id: 'forest-b',
      id: `b${i}`,
      ip: `127.0.2.${i}`,
      role: 'node',
      status: 'active' as const,
    })),
  }
  await s.write(serializeDocument(doc), {ifAbsent: true})
  await s.secrets.set('forest-a', 'cluster_auth', '{"user":"route","password":"route-pw"}')
  return s
}

function request(src: RegistryBackend, target: RegistryBackend, extra: Partial<MigrateRequest> = {}): MigrateRequest {
  return {
    cacheDir: join(dir, 'cache'),
    configPath: configFile,
    force: false,
    openTarget: async () => ({backend: guardBackend(target), name: 'memory'}),
    secretNames: ['cluster_auth'],
    section: {password: '${TARGET_PW}', type: 'memory', url: 'memory://target'},
    source: guardBackend(src),
    switch: true,
    ...extra,
  }
}

test("copies the document and the forests' secrets, reads the copy back, then points the config at the target", async () => {
  const src = await source()
  const target = new MemoryRegistry('memory://target')
  const result = await migrateRegistry(request(src, target))
  expect(result).toEqual({
    backend: 'memory',
    forest_count: 2,
    from: 'memory://source',
    node_count: 3,
    overwrote: false,
    probe: {concurrency: 'compare-and-swap', notes: ['memory: compare-and-swap']},
    secret_count: 1,
    switched: true,
    to: 'memory://target',
  })
  const copied = JSON.parse((await target.read())!.body)
  expect(copied.forests).toEqual(JSON.parse((await src.read())!.body).forests)
  expect(copied.nodes['forest-b'].map((n: {id: string}) => n.id)).toEqual(['b1', 'b2'])
  expect(await target.secrets.get('forest-a', 'cluster_auth')).toBe('{"user":"route","password":"route-pw"}')
  expect(load(readFileSync(configFile, 'utf8'))).toEqual({
    forest: {parallel: 2},
    registry: {password: '${TARGET_PW}', type: 'memory', url: 'memory://target'},
  })
  // the source is left as it was
  expect(src.counts.writes).toBe(1)
})

test('--no-switch copies and leaves the config alone', async () => {
  const before = readFileSync(configFile, 'utf8')
  const result = await migrateRegistry(request(await source(), new MemoryRegistry('memory://target'), {switch: false}))
  expect(result.switched).toBe(false)
  expect(readFileSync(configFile, 'utf8')).toBe(before)
})

test('refusals copy nothing and leave the config: no source document, the same registry, an unsafe target, a full target (without --force), a target without secrets', async () => {
  const before = readFileSync(configFile, 'utf8')
  let opened = 0
  const missing = await rejection(
    migrateRegistry(
      request(new MemoryRegistry('memory://empty'), new MemoryRegistry('memory://target'), {
        openTarget: async () => (opened++, {backend: new MemoryRegistry(), name: 'memory'}),
      }),
    ),
  )
  expect(missing.kind).toBe('NOT_FOUND')
  // the target is not even opened (a bad --to is reported after a missing source)
  expect(opened).toBe(0)

  const src = await source()
  expect((await rejection(migrateRegistry(request(src, src)))).kind).toBe('USAGE')

  const unsafe = new MemoryRegistry('memory://target')
  unsafe.concurrency = 'none'
  const refused = await rejection(migrateRegistry(request(src, unsafe)))
  expect(refused.message).toMatch(/cannot keep concurrent writes safe/)
  expect(await unsafe.read()).toBeNull()

  const full = await source()
  const fullError = await rejection(migrateRegistry(request(src, Object.assign(full, {location: 'memory://full'}) as MemoryRegistry)))
  expect(fullError.message).toBe('the target memory://full already holds 2 forests and 3 nodes; refusing to overwrite it')
  expect(full.counts.writes).toBe(1)

  const plain = new MemoryRegistry('memory://plain')
  const noSecrets: RegistryBackend = {
    location: plain.location,
    probe: () => plain.probe(),
    read: () => plain.read(),
    write: (b, c) => plain.write(b, c),
  }
  const lost = await rejection(migrateRegistry(request(src, noSecrets)))
  expect(lost.message).toBe('the target backend memory keeps no secrets, and 1 forest has route credentials that would be lost')
  expect(await plain.read()).toBeNull()
  expect(readFileSync(configFile, 'utf8')).toBe(before)
})

test('--force replaces a target that holds forests, and says it did', async () => {
  const full = Object.assign(await source(), {location: 'memory://full'}) as MemoryRegistry
  const src = new MemoryRegistry('memory://source')
  const doc = emptyDocument()
  doc.forests = {'forest-z': forest('forest-z')}
  await src.write(serializeDocument(doc), {ifAbsent: true})
  const result = await migrateRegistry(request(src, full, {force: true}))
  expect(result).toMatchObject({forest_count: 1, node_count: 0, overwrote: true, secret_count: 0})
  expect(Object.keys(JSON.parse((await full.read())!.body).forests)).toEqual(['forest-z'])
})
