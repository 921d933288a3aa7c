#!/usr/bin/env node
// `npm run release`: the release artefacts, from the built tree (npm run build first; the npm
// script does), with no npm registry:
// - release/morpheus-<version>.tgz: the CLI with the bundled plugins (plugins/provider-local,
//   provider-hetzner, registry-none, registry-storagebox) and every runtime dependency inside
//   (bundleDependencies). `npm install -g ./release/morpheus-<version>.tgz` puts `morpheus` on PATH;
//   so does `bash scripts/install.sh`.
// - release/morpheus-<plugin>-<version>.tgz: each workspace plugin packed on its own, its
//   dependencies bundled, for `morpheus plugins install file:<tarball>` (or to publish to a
//   registry, after which `morpheus plugins install @morpheus/<plugin>` fetches it). A plugin with
//   its own scripts/pack.js (registry-s3) is packed by that script.
//
// Usage: node scripts/release.js [--out DIR] [--npm PATH-TO-npm-cli.js] [--core-only]
// Prints one JSON line: {"core": {tarball, files, size, bundled}, "plugins": {"<name>": {...}}}.
import {execFileSync} from 'node:child_process'
import {existsSync, readdirSync, realpathSync, rmSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

import {packBundled, readJson, releaseManifest} from './bundle.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const {values: opts} = parseArgs({options: {'core-only': {type: 'boolean'}, npm: {type: 'string'}, out: {type: 'string'}}})
const out = resolve(opts.out ?? join(ROOT, 'release'))
const npm = opts.npm ? [process.execPath, opts.npm] : ['npm']

const pkg = readJson(join(ROOT, 'package.json'))
for (const built of ['dist/commands', 'oclif.manifest.json'].filter((f) => !existsSync(join(ROOT, f)))) {
  console.error(`release: ${built} is missing: run \`npm run build\` first (\`npm run release\` does)`)
  process.exit(2)
}

const pluginDirs = readdirSync(join(ROOT, 'plugins'))
  .map((name) => join(ROOT, 'plugins', name))
  .filter((d) => existsSync(join(d, 'package.json')))
const workspaces = new Map(pluginDirs.map((d) => [realpathSync(d), readJson(join(d, 'package.json')).name]))
for (const [dir, name] of workspaces) {
  if (pkg.dependencies?.[name] && !existsSync(join(dir, 'dist'))) {
    console.error(`release: ${name} is not built: run \`npm run build\` first`)
    process.exit(2)
  }
}

// Earlier artefacts of this version or another: only what this run makes is left.
if (existsSync(out)) for (const f of readdirSync(out).filter((f) => /^morpheus-.*\.tgz$/.test(f))) rmSync(join(out, f))

const result = {core: packBundled({destination: out, dir: ROOT, manifest: releaseManifest(pkg), npm, workspaces}), plugins: {}}
if (!opts['core-only']) {
  for (const [dir, name] of workspaces) {
    const own = join(dir, 'scripts', 'pack.js')
    if (existsSync(own)) {
      const args = [own, '--pack-destination', out, ...(opts.npm ? ['--npm', opts.npm] : [])]
      result.plugins[name] = JSON.parse(execFileSync(process.execPath, args, {encoding: 'utf8'}).trim().split('\n').at(-1))
    } else {
      result.plugins[name] = packBundled({destination: out, dir, manifest: releaseManifest(readJson(join(dir, 'package.json'))), npm})
    }
  }
}
console.log(JSON.stringify(result))
