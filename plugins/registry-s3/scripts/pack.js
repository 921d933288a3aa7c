#!/usr/bin/env node
// Packs @morpheus/registry-s3 into a self-contained tarball: the built plugin plus its runtime
// dependencies (the AWS SDK), bundled (package.json "bundleDependencies"), so that
// `morpheus plugins install file:<tarball>` needs no npm registry and installs exactly the SDK
// it was tested with.
//
// `npm pack` alone cannot do this from the workspace: npm hoists the SDK to the repository's
// node_modules, and npm pack only bundles what sits in the package's own node_modules. So this
// copies package.json, dist/ and the README (docs/s3.md) to a staging directory, copies the dependency
// closure there in the same node_modules layout, and runs `npm pack` in it.
//
// Usage: node scripts/pack.js [--pack-destination DIR] [--npm PATH-TO-npm-cli.js]
// Prints one JSON line: {"tarball": "<absolute path>", "files": <count>, "size": <bytes>}.
import {execFileSync} from 'node:child_process'
import {cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, relative, resolve, sep} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

const PLUGIN = fileURLToPath(new URL('..', import.meta.url))
const {values: opts} = parseArgs({options: {npm: {type: 'string'}, 'pack-destination': {type: 'string'}}})
const destination = resolve(opts['pack-destination'] ?? PLUGIN)

const pkg = JSON.parse(readFileSync(join(PLUGIN, 'package.json'), 'utf8'))
if (!existsSync(join(PLUGIN, 'dist', 'hooks', 'registries.js'))) {
  console.error('pack: the plugin is not built: run `npm run build` at the repository root first')
  process.exit(2)
}

/** The directory of package `name` as Node would find it from `fromDir` (node_modules upward), or undefined. */
function findPackage(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate)
    if (dirname(dir) === dir) return undefined
  }
}

/** Where a package directory goes in the staging tree: the same path below the node_modules root it was found in. */
function stagedPath(dir, staging) {
  const rel = relative(PLUGIN, dir)
  if (!rel.startsWith('..')) return join(staging, rel)
  // Hoisted: below some ancestor's node_modules. Keep everything from the first node_modules on.
  const parts = dir.split(sep)
  const at = parts.indexOf('node_modules')
  if (at < 0) throw new Error(`pack: ${dir} is not inside a node_modules directory`)
  return join(staging, ...parts.slice(at))
}

/**
 * Which files of a dependency to copy (path relative to its directory): not its nested
 * node_modules (those are copied as dependencies in their own right), and not the SDK's type
 * declarations (dist-types, *.d.ts), source maps and ES-module builds: every one of these packages maps Node (the "node" export
 * condition, or "main") to its dist-cjs build, so dist-types and dist-es are never loaded. That
 * keeps the tarball at a few hundred files instead of thousands.
 */
function keep(rel) {
  if (rel === '') return true
  const parts = rel.split(sep)
  return !parts.includes('node_modules') && parts[0] !== 'dist-types' && parts[0] !== 'dist-es' && !rel.endsWith('.d.ts') && !rel.endsWith('.map')
}

const staging = mkdtempSync(join(tmpdir(), 'morpheus-registry-s3-pack-'))
try {
  const manifest = {...pkg, bundleDependencies: Object.keys(pkg.dependencies ?? {})}
  delete manifest.devDependencies
  delete manifest.scripts
  writeFileSync(join(staging, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  cpSync(join(PLUGIN, 'dist'), join(staging, 'dist'), {recursive: true})
  // The README is docs/s3.md of the repository (configuration for AWS, R2, MinIO; what the probe checks).
  cpSync(join(PLUGIN, '..', '..', 'docs', 's3.md'), join(staging, 'README.md'))

  // The runtime dependency closure, breadth first, each package resolved from the one that needs it.
  const seen = new Set()
  const queue = Object.keys(pkg.dependencies ?? {}).map((name) => ({from: PLUGIN, name, optional: false}))
  while (queue.length > 0) {
    const {from, name, optional} = queue.shift()
    const dir = findPackage(name, from)
    if (!dir) {
      if (optional) continue
      throw new Error(`pack: cannot find ${name} (needed from ${from}); run npm ci first`)
    }
    if (seen.has(dir)) continue
    seen.add(dir)
    cpSync(dir, stagedPath(dir, staging), {filter: (src) => keep(relative(dir, src)), recursive: true})
    const dep = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
    for (const d of Object.keys(dep.dependencies ?? {})) queue.push({from: dir, name: d, optional: false})
    for (const d of Object.keys({...dep.optionalDependencies, ...dep.peerDependencies})) queue.push({from: dir, name: d, optional: true})
  }

  mkdirSync(destination, {recursive: true})
  const npm = opts.npm ? [process.execPath, [opts.npm]] : ['npm', []]
  const out = execFileSync(npm[0], [...npm[1], 'pack', '--json', '--pack-destination', destination], {
    cwd: staging,
    encoding: 'utf8',
    env: {...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false'},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const [packed] = JSON.parse(out)
  console.log(JSON.stringify({bundled: packed.bundled?.length ?? 0, files: packed.entryCount, size: packed.size, tarball: join(destination, packed.filename)}))
} finally {
  rmSync(staging, {force: true, recursive: true})
}
