import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {registryConformance, testContext} from 'morpheus/testing'

import {startApache, type ApacheServer} from '../../../test/fixtures/webdav/apache.js'
import {createStorageBoxRegistry, StorageBoxRegistry} from '../src/storagebox-registry.js'

// The core's registry conformance kit against a real Apache mod_dav: each test on a fresh folder.
let apache: ApacheServer
let n = 0
const secretDir = mkdtempSync(join(tmpdir(), 'morpheus-kit-dav-'))
const passwordFile = join(secretDir, 'password')
beforeAll(async () => {
  apache = await startApache()
  // The kit's worker processes read it from a 0600 file; it never goes on a command line.
  writeFileSync(passwordFile, apache.password, {mode: 0o600})
})
afterAll(() => {
  apache?.stop()
  rmSync(secretDir, {force: true, recursive: true})
})

registryConformance({
  async create() {
    n += 1
    const backend = createStorageBoxRegistry(testContext({password: apache.password, url: `${apache.origin}/kit${n}/registry.json`, username: apache.username})) as StorageBoxRegistry
    await backend.ensureFolder(`/kit${n}/`)
    return backend
  },
  features: {history: true, secrets: true},
  name: 'storagebox (Apache mod_dav)',
  processes: {argument: (backend) => JSON.stringify({passwordFile, url: backend.location, username: apache.username}), count: 6, increments: 15, module: fileURLToPath(new URL('./kit-backend.mjs', import.meta.url))},
  timeoutMs: 180_000,
})
