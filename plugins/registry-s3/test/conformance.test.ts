/**
 * The registry conformance kit (morpheus/testing) against the S3 backend on the in-process S3
 * simulator, which enforces conditional writes as AWS does and keeps object versions: create-if-
 * absent, stale revisions, corrupt bodies, probe, history, secrets, and 4 OS processes x 10
 * updates through the core's store losing none. Each test gets a fresh key in a versioned bucket.
 */
import {registryConformance, testContext} from 'morpheus/testing'
import {fileURLToPath} from 'node:url'

import {createS3Registry} from '../src/s3-registry.js'
import {FakeS3} from './fixtures/fake-s3.js'

const ACCESS = 'AKIAKITKIT'
const SECRET = 'kit-secret-key-0123456789'
const fake = new FakeS3({
  buckets: {kit: {versioning: true}},
  credentials: [{accessKeyId: ACCESS, secretAccessKey: SECRET}],
  region: 'eu-west-1',
})
let n = 0
let lastConfig: Record<string, unknown> = {}

beforeAll(async () => {
  await fake.start()
})
afterAll(async () => {
  await fake.stop()
  expect(fake.unhandled).toEqual([])
})

registryConformance({
  create() {
    lastConfig = {
      access_key_id: ACCESS,
      bucket: 'kit',
      endpoint: fake.endpoint,
      force_path_style: true,
      key: `kit/${++n}/registry.json`,
      region: 'eu-west-1',
      secret_access_key: SECRET,
    }
    return createS3Registry(testContext(lastConfig))
  },
  features: {history: true, secrets: true},
  name: 's3 on the S3 simulator (versioned bucket)',
  processes: {argument: () => JSON.stringify(lastConfig), module: fileURLToPath(new URL('./fixtures/kit-backend.mjs', import.meta.url))},
})
