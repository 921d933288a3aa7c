/**
 * The S3 backend against s3rver, a real S3 server (npm) that ignores conditional PUTs: everything
 * but compare-and-swap works on it, and the probe must say 'none' and name what is missing.
 */
import {pluginContext, rejection} from '../../../test/helpers/unit.js'
import {createS3Registry, type S3Registry} from '../src/s3-registry.js'
import {S3rverProcess} from './fixtures/s3rver.js'

const ACCESS = 'S3RVERTESTKEY01'
const SECRET = 's3rver-Secret+Key/0987654321'
const server = new S3rverProcess('forests', ACCESS, SECRET)

function backend(config: Record<string, unknown> = {}): S3Registry {
  return createS3Registry(
    pluginContext({
      access_key_id: ACCESS,
      bucket: 'forests',
      endpoint: server.endpoint,
      force_path_style: true,
      key: 'morpheus/registry.json',
      secret_access_key: SECRET,
      ...config,
    }),
  ) as S3Registry
}

beforeAll(async () => {
  await server.start()
})
afterAll(async () => {
  await server.stop()
})

test('probe: none, naming conditional create and conditional update as missing; no scratch object is left', async () => {
  const probe = await backend().probe()
  expect(probe.concurrency).toBe('none')
  expect(probe.notes[0]).toContain('missing: conditional create (If-None-Match: *) and conditional update (If-Match)')
  expect(probe.notes).toContain('the server ignores If-None-Match: * on PUT: a second create of the same key succeeded')
  expect(probe.notes).toContain('the server ignores If-Match on PUT: a write with a stale ETag succeeded')
  expect(probe.notes.at(-1)).toContain('bucket versioning is off (or not supported)')
  // s3rver has no versioning: the plain delete removed the scratch object.
  const {S3Client, ListObjectsV2Command} = await import('@aws-sdk/client-s3')
  const client = new S3Client({
    credentials: {accessKeyId: ACCESS, secretAccessKey: SECRET},
    endpoint: server.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
  })
  const listed = await client.send(new ListObjectsV2Command({Bucket: 'forests'}))
  expect(listed.Contents ?? []).toEqual([])
})

test('read, create, update: the bytes round-trip and each write returns the ETag that read() then reports', async () => {
  const b = backend()
  expect(await b.read()).toBeNull()
  const doc = JSON.stringify({forests: {}, nodes: {}, updated_at: 'x', version: 1}, null, 2) + '\n'
  const r1 = await b.write(doc, {ifAbsent: true})
  expect(await b.read()).toEqual({body: doc, revision: r1.revision})
  const r2 = await b.write(doc.replace('"x"', '"y"'), {ifRevision: r1.revision})
  expect(r2.revision).not.toBe(r1.revision)
  expect(await b.read()).toEqual({body: doc.replace('"x"', '"y"'), revision: r2.revision})
  // Unicode survives.
  await b.write('{"note":"Wald – 森"}', {ifRevision: r2.revision})
  expect((await b.read())!.body).toBe('{"note":"Wald – 森"}')
})

test('history without versioning (s3rver has none): no earlier revisions; readRevision reads the current one by its revision', async () => {
  const b = backend()
  const current = (await b.read())!
  expect(await b.history(10)).toEqual([])
  expect(await b.readRevision(current.revision)).toEqual(current)
  expect(await b.readRevision('00000000000000000000000000000000')).toBeNull()
})

test('secrets: a separate object per forest, readable back, gone after delete; the document never holds them', async () => {
  const b = backend()
  await b.secrets.set('forest-a', 'route_password', 'sekret-route-pw-1')
  await b.secrets.set('forest-a', 'route_user', 'forest-a')
  expect(await b.secrets.get('forest-a', 'route_password')).toBe('sekret-route-pw-1')
  expect(await b.secrets.get('forest-a', 'route_user')).toBe('forest-a')
  expect((await b.read())!.body).not.toContain('sekret-route-pw-1')
  await b.secrets.delete('forest-a')
  expect(await b.secrets.get('forest-a', 'route_password')).toBeUndefined()
})

// s3rver checks the access key id but not SigV4 signatures (the simulator in s3-registry.test.ts does).
test('an access key id s3rver does not know: AUTH, and neither key appears in the error', async () => {
  const error = await rejection(backend({access_key_id: 'UNKNOWNKEYID42'}).read())
  expect(error.code).toBe('AUTH')
  expect(error.message).toContain('InvalidAccessKeyId')
  for (const s of [SECRET, 'UNKNOWNKEYID42']) expect(`${error.message} ${error.hint}`).not.toContain(s)
})

test('a bucket s3rver does not have: PREREQUISITE', async () => {
  const error = await rejection(backend({bucket: 'other-bucket'}).write('{}', {ifAbsent: true}))
  expect(error.code).toBe('PREREQUISITE')
  expect(error.message).toContain('the bucket does not exist')
})
