import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {registryConformance, testContext} from 'morpheus/testing'

import {createFileRegistry, FileRegistry} from '../src/file-registry.js'

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, {force: true, recursive: true})
})

registryConformance({
  create() {
    const dir = mkdtempSync(join(tmpdir(), 'morpheus-none-kit-'))
    dirs.push(dir)
    return createFileRegistry(testContext({lock_timeout_seconds: 30, path: join(dir, 'registry.json')}))
  },
  features: {history: false, secrets: true},
  name: 'none (local file)',
  processes: {
    argument: (backend) => (backend as FileRegistry).path,
    count: 6,
    increments: 15,
    module: fileURLToPath(new URL('./kit-backend.mjs', import.meta.url)),
  },
})
