// Regenerate the Hetzner Cloud API types from the official OpenAPI spec (`npm run gen:hetzner`).
// The spec: ../shared/reference/hetzner/cloud.spec.json beside the repository, else the copy the simulator validates against
// (test/fixtures/hetzner-sim/cloud.spec.json); or pass a path. The output is committed, so building needs no spec.
import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {join, resolve} from 'node:path'

const root = fileURLToPath(new URL('..', import.meta.url))
const candidates = [
  process.argv[2],
  join(root, '../shared/reference/hetzner/cloud.spec.json'),
  join(root, 'test/fixtures/hetzner-sim/cloud.spec.json'),
].filter(Boolean)
const spec = candidates.map((p) => resolve(p)).find((p) => existsSync(p))
if (!spec) {
  console.error(
    `gen:hetzner: no spec found (looked at ${candidates.join(', ')}); pass its path: npm run gen:hetzner -- /path/to/cloud.spec.json`,
  )
  process.exit(2)
}
const out = join(root, 'plugins/provider-hetzner/src/api/hcloud.d.ts')
execFileSync(process.execPath, [join(root, 'node_modules/openapi-typescript/bin/cli.js'), spec, '--output', out, '--alphabetize'], {
  stdio: 'inherit',
})
console.log(`gen:hetzner: ${out} from ${spec}`)
