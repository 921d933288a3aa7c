#!/usr/bin/env node
// Packs @morpheus/registry-s3 into a self-contained tarball: the built plugin plus its runtime
// dependencies (the AWS SDK), bundled (package.json "bundleDependencies"), so that
// `morpheus plugins install file:<tarball>` needs no npm registry and installs exactly the SDK
// it was tested with. How: scripts/bundle.js of the repository (also used by `npm run release`,
// which runs this script for this plugin). The README is docs/s3.md of the repository.
//
// Usage: node scripts/pack.js [--pack-destination DIR] [--npm PATH-TO-npm-cli.js]
// Prints one JSON line: {"tarball": "<absolute path>", "files": <count>, "size": <bytes>, "bundled": <count>}.
import {existsSync} from 'node:fs'
import {join, resolve, sep} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

import {defaultKeep, packBundled, readJson, releaseManifest} from '../../../scripts/bundle.js'

const PLUGIN = fileURLToPath(new URL('..', import.meta.url))
const {values: opts} = parseArgs({options: {npm: {type: 'string'}, 'pack-destination': {type: 'string'}}})

if (!existsSync(join(PLUGIN, 'dist', 'hooks', 'registries.js'))) {
  console.error('pack: the plugin is not built: run `npm run build` at the repository root first')
  process.exit(2)
}

/**
 * Besides what every bundle leaves out (nested node_modules, type declarations, source maps):
 * the SDK's dist-types and ES-module builds. Every one of these packages maps Node (the "node"
 * export condition, or "main") to its dist-cjs build, so dist-types and dist-es are never loaded.
 * That keeps the tarball at a few hundred files instead of thousands.
 */
const keep = (rel) => defaultKeep(rel) && !['dist-types', 'dist-es'].includes(rel.split(sep)[0])

const packed = packBundled({
  destination: resolve(opts['pack-destination'] ?? PLUGIN),
  dir: PLUGIN,
  extraFiles: [[join(PLUGIN, '..', '..', 'docs', 's3.md'), 'README.md']],
  keep,
  manifest: releaseManifest(readJson(join(PLUGIN, 'package.json'))),
  npm: opts.npm ? [process.execPath, opts.npm] : ['npm'],
})
console.log(JSON.stringify(packed))
