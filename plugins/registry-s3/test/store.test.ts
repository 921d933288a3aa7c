/**
 * The core's RegistryStore (the one read-modify-write loop) on the S3 backend, on the S3 simulator:
 * two commands writing at once both land, transient S3 errors are retried, and a server that
 * ignores conditional writes is refused unless the user says unsafe.
 */
import {pluginContext} from '../../../test/helpers/unit.js'
import {RegistryStore} from '../../../src/registry/store.js'
import {createS3Registry} from '../src/s3-registry.js'
import {FakeS3} from './fixtures/fake-s3.js'

let fake: FakeS3

const backend = () =>
  createS3Registry(
    pluginContext({
      access_key_id: 'AKSTORE',
      bucket: 'morpheus',
      endpoint: fake.endpoint,
      force_path_style: true,
      secret_access_key: 'store-secret-key',
    }),
  )
const quiet = {debug() {}, warn() {}}

const forest = (id: string) => ({
  created_at: new Date().toISOString(),
  id,
  last_expansion: null,
  node_count: 1,
  provider: 'local',
  size: 'small',
  status: 'active' as const,
})

beforeEach(async () => {
  fake = new FakeS3({credentials: [{accessKeyId: 'AKSTORE', secretAccessKey: 'store-secret-key'}]})
  await fake.start()
})
afterEach(async () => {
  await fake.stop()
  expect(fake.unhandled).toEqual([])
})

test('two stores (two commands) adding forests at the same time: every forest lands, some writes conflicted and were applied again', async () => {
  const a = new RegistryStore(backend(), {conflictBaseMs: 5, log: quiet})
  const b = new RegistryStore(backend(), {conflictBaseMs: 5, log: quiet})
  await Promise.all([
    ...Array.from({length: 6}, (_, i) => a.update((doc) => void (doc.forests[`a${i}`] = forest(`a${i}`)), {now: true})),
    ...Array.from({length: 6}, (_, i) => b.update((doc) => void (doc.forests[`b${i}`] = forest(`b${i}`)), {now: true})),
  ])
  const doc = JSON.parse(fake.object('morpheus', 'morpheus/registry.json')!)
  expect(Object.keys(doc.forests).sort()).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'b0', 'b1', 'b2', 'b3', 'b4', 'b5'])
  expect(a.stats.conflicts + b.stats.conflicts).toBeGreaterThan(0)
  // The probe ran once per store before its first write, and its scratch objects are gone.
  expect(fake.keys('morpheus')).toEqual(['morpheus/registry.json'])
})

test('a 503 SlowDown and a reset connection are retried by the store; the write lands once', async () => {
  const store = new RegistryStore(backend(), {log: quiet, probe: {concurrency: 'compare-and-swap', notes: []}, transientBaseMs: 5})
  await store.update((doc) => void (doc.forests.f1 = forest('f1')), {now: true})
  fake.failNext({code: 'SlowDown', status: 503}, {reset: true})
  await store.update((doc) => void (doc.forests.f2 = forest('f2')), {now: true})
  expect(store.stats.retries).toBe(2)
  expect(Object.keys(JSON.parse(fake.object('morpheus', 'morpheus/registry.json')!).forests)).toEqual(['f1', 'f2'])
})

test('a server that ignores conditional writes: the store refuses to write, naming what is missing; with unsafe it writes', async () => {
  fake.enforceConditions = false
  const refused = new RegistryStore(backend(), {log: quiet})
  const error = await refused.update((doc) => void (doc.forests.f1 = forest('f1')), {now: true}).catch((e) => e)
  expect(error.kind).toBe('REGISTRY')
  expect(error.message).toContain('refusing to write the registry at s3://morpheus/morpheus/registry.json')
  expect(error.message).toContain('missing: conditional create (If-None-Match: *) and conditional update (If-Match)')
  expect(fake.object('morpheus', 'morpheus/registry.json')).toBeUndefined()

  const warnings: string[] = []
  const unsafe = new RegistryStore(backend(), {log: {debug() {}, warn: (m) => warnings.push(m)}, unsafe: true})
  await unsafe.update((doc) => void (doc.forests.f1 = forest('f1')), {now: true})
  expect(Object.keys(JSON.parse(fake.object('morpheus', 'morpheus/registry.json')!).forests)).toEqual(['f1'])
  expect(warnings.join('\n')).toContain('writing anyway (--unsafe)')
})
