import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {registryConformance, testContext} from 'morpheus/testing'

import type {ApacheServer} from '../../../test/fixtures/webdav/apache.js'
import {WEBDAV_SERVERS} from '../../../test/fixtures/webdav/servers.js'
import {createStorageBoxRegistry, StorageBoxRegistry} from '../src/storagebox-registry.js'

// The core's registry conformance kit against each real WebDAV server (Apache mod_dav, nginx
// dav-ext with dav_ext_lock): each test on a fresh folder.
for (const kind of WEBDAV_SERVERS) {
  let server: ApacheServer
  let n = 0
  const secretDir = mkdtempSync(join(tmpdir(), 'morpheus-kit-dav-'))
  const passwordFile = join(secretDir, 'password')
  beforeAll(async () => {
    server = await kind.start()
    // The kit's worker processes read it from a 0600 file; it never goes on a command line.
    writeFileSync(passwordFile, server.password, {mode: 0o600})
  })
  afterAll(() => {
    server?.stop()
    rmSync(secretDir, {force: true, recursive: true})
  })

  registryConformance({
    async create() {
      n += 1
      const backend = createStorageBoxRegistry(
        testContext({password: server.password, url: `${server.origin}/kit${n}/registry.json`, username: server.username}),
      ) as StorageBoxRegistry
      await backend.ensureFolder(`/kit${n}/`)
      return backend
    },
    features: {history: true, secrets: true},
    name: `storagebox (${kind.name})`,
    processes: {
      argument: (backend) => JSON.stringify({passwordFile, url: backend.location, username: server.username}),
      count: 6,
      increments: 15,
      module: fileURLToPath(new URL('./kit-backend.mjs', import.meta.url)),
    },
    timeoutMs: 180_000,
  })
}
