import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {ROOT} from '../../helpers/cli.js'

// A plugin's tests may run the kits under `node --test`, with nothing passed in: no Jest globals,
// the kits take node:test's describe and test. Run as a plugin would, on the built package.
const dir = mkdtempSync(join(tmpdir(), 'morpheus-node-test-'))
afterAll(() => rmSync(dir, {force: true, recursive: true}))

function nodeTest(concurrency: string): {code: number | null; out: string} {
  const testing = pathToFileURL(join(ROOT, 'dist', 'testing', 'index.js')).href
  const file = join(dir, `kit-${concurrency}.test.mjs`)
  writeFileSync(
    file,
    `import {MemoryRegistry, registryConformance} from '${testing}'
registryConformance({
  name: 'memory under node --test',
  create() {
    const backend = new MemoryRegistry()
    backend.concurrency = '${concurrency}'
    return backend
  },
  features: {history: true, secrets: true},
})
`,
  )
  const r = spawnSync(process.execPath, ['--test', file], {encoding: 'utf8', env: {PATH: process.env.PATH}, timeout: 60_000})
  return {code: r.status, out: r.stdout + r.stderr}
}

test('registryConformance runs under node --test without describe/test passed in, and its failures fail the run', () => {
  const good = nodeTest('compare-and-swap')
  expect(good.out).toMatch(/^# pass 9$/m)
  expect(good.out).toMatch(/^# fail 0$/m)
  expect(good.code).toBe(0)
  // A backend that cannot make writes safe fails the kit: the run fails too.
  const bad = nodeTest('none')
  expect(bad.out).toMatch(/not ok \d+ - probe\(\) says how writes are kept safe/)
  expect(bad.code).toBe(1)
})
