// Packs a package of this repository into a self-contained npm tarball: its own files plus the
// closure of its runtime dependencies, bundled (package.json "bundleDependencies"), so that
// `npm install -g <tarball>` and `morpheus plugins install file:<tarball>` need no npm registry
// and install exactly the dependencies the tests ran with.
//
// `npm pack` alone cannot do this from the workspace: npm hoists dependencies to the repository's
// node_modules and links the workspace plugins there, and npm pack only bundles what sits, as real
// directories, in the package's own node_modules. So this copies the package's files to a staging
// directory, copies every dependency there in the same node_modules layout Node resolves them
// from here (a workspace package as its packed files, not its whole directory), and runs
// `npm pack` in it. Used by scripts/release.js and plugins/registry-s3/scripts/pack.js.
import {execFileSync} from 'node:child_process'
import {cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, relative, sep} from 'node:path'

export function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'))
}

/** The directory of package `name` as Node would find it from `fromDir` (node_modules upward), or undefined. */
function findPackage(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate)
    if (dirname(dir) === dir) return undefined
  }
}

function inside(dir, parent) {
  const rel = relative(parent, dir)
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep))
}

/**
 * The manifest a tarball carries: the package's own, without what only the repository uses
 * (development dependencies, scripts, workspaces, `private`), every runtime dependency bundled
 * (unless bundle is false: a workspace package inside another package's bundle).
 */
export function releaseManifest(pkg, {bundle = true, ...changes} = {}) {
  const manifest = {...pkg, ...changes}
  for (const key of ['devDependencies', 'scripts', 'workspaces', 'private', 'bundleDependencies']) delete manifest[key]
  const deps = Object.keys(manifest.dependencies ?? {})
  if (bundle && deps.length > 0) manifest.bundleDependencies = deps
  return manifest
}

/**
 * A workspace package staged inside another package's bundle: its dependencies are the bundler's,
 * and its peer dependency on the bundler goes. npm (arborist) decides what is bundled by walking
 * the edges into each package, and a bundled package with an edge back to its bundler makes npm
 * count that package's own dependencies as not bundled: `npm install --offline` then asks the
 * registry for them (seen with npm 11).
 */
function insideBundle(pkg, bundler) {
  const manifest = releaseManifest(pkg, {bundle: false})
  if (manifest.peerDependencies?.[bundler]) {
    manifest.peerDependencies = Object.fromEntries(Object.entries(manifest.peerDependencies).filter(([name]) => name !== bundler))
    if (manifest.peerDependenciesMeta)
      manifest.peerDependenciesMeta = Object.fromEntries(Object.entries(manifest.peerDependenciesMeta).filter(([name]) => name !== bundler))
    for (const key of ['peerDependencies', 'peerDependenciesMeta']) if (Object.keys(manifest[key] ?? {}).length === 0) delete manifest[key]
  }
  return manifest
}

/** What `npm pack` takes of a package directory: package.json (rewritten), the `files` entries, README.md. */
function copyPackageFiles(source, target, manifest) {
  mkdirSync(target, {recursive: true})
  writeFileSync(join(target, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  for (const entry of [...(manifest.files ?? []), 'README.md']) {
    if (existsSync(join(source, entry))) cpSync(join(source, entry), join(target, entry), {recursive: true})
  }
}

/** Files of a dependency not worth shipping: its nested node_modules (copied as dependencies in their own right), type declarations and source maps. */
export function defaultKeep(rel) {
  if (rel === '') return true
  return !rel.split(sep).includes('node_modules') && !/\.d\.[cm]?ts$/.test(rel) && !rel.endsWith('.map')
}

/**
 * Stage and pack one package.
 * - dir: the package's directory in the repository; its dependencies resolve from there.
 * - manifest: the package.json to ship (see releaseManifest); its dependencies are bundled.
 * - extraFiles: [[source path, path in the package]] copied besides the manifest's `files`.
 * - workspaces: Map of real directory -> package name for workspace packages among the
 *   dependencies: each is staged as its packed files (releaseManifest of its package.json).
 * - keep(rel): which files of a dependency to copy (path relative to the dependency).
 * - destination: where the tarball goes; npm: [command, ...args] that runs npm.
 * Returns {tarball, files, size, bundled}.
 */
export function packBundled({destination, dir, extraFiles = [], keep = defaultKeep, manifest, npm = ['npm'], workspaces = new Map()}) {
  const staging = mkdtempSync(join(tmpdir(), 'morpheus-pack-'))
  try {
    copyPackageFiles(dir, staging, manifest)
    for (const [source, target] of extraFiles) cpSync(source, join(staging, target), {recursive: true})

    // Where a dependency found at `real` goes: below the deepest known package it sits in
    // (the package itself, or a workspace package staged at node_modules/<name>), else, when it
    // was hoisted above the package, from the first node_modules of its path on.
    const anchors = [
      {source: realpathSync(dir), staged: staging},
      ...[...workspaces].map(([source, name]) => ({source, staged: join(staging, 'node_modules', name)})),
    ]
    const stagedPath = (real) => {
      const anchor = anchors.filter((a) => inside(real, a.source)).sort((a, b) => b.source.length - a.source.length)[0]
      if (anchor) return join(anchor.staged, relative(anchor.source, real))
      const parts = real.split(sep)
      const at = parts.indexOf('node_modules')
      if (at < 0) throw new Error(`pack: ${real} is not inside a node_modules directory`)
      return join(staging, ...parts.slice(at))
    }

    // The runtime dependency closure, breadth first, each package resolved from the one that needs it.
    const seen = new Set()
    const queue = Object.keys(manifest.dependencies ?? {}).map((name) => ({from: dir, name, optional: false}))
    while (queue.length > 0) {
      const {from, name, optional} = queue.shift()
      if (name === manifest.name) continue // a plugin's (optional) peer dependency on the core
      const found = findPackage(name, from)
      if (!found) {
        if (optional) continue
        throw new Error(`pack: cannot find ${name} (needed from ${from}); run npm ci first`)
      }
      if (seen.has(found)) continue
      seen.add(found)
      const pkg = readJson(join(found, 'package.json'))
      if (workspaces.has(found)) copyPackageFiles(found, stagedPath(found), insideBundle(pkg, manifest.name))
      else cpSync(found, stagedPath(found), {filter: (src) => keep(relative(found, src)), recursive: true})
      for (const d of Object.keys(pkg.dependencies ?? {})) queue.push({from: found, name: d, optional: false})
      for (const d of Object.keys({...pkg.optionalDependencies, ...pkg.peerDependencies}))
        queue.push({from: found, name: d, optional: true})
    }

    mkdirSync(destination, {recursive: true})
    const out = execFileSync(npm[0], [...npm.slice(1), 'pack', '--json', '--pack-destination', destination], {
      cwd: staging,
      encoding: 'utf8',
      env: {...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false'},
      maxBuffer: 256 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const [packed] = JSON.parse(out)
    return {bundled: packed.bundled?.length ?? 0, files: packed.entryCount, size: packed.size, tarball: join(destination, packed.filename)}
  } finally {
    rmSync(staging, {force: true, recursive: true})
  }
}
