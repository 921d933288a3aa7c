// Bundle the core for start-up time (bench/README.md; scripts/bundle.js is another thing: it packs release tarballs).
// @oclif/core, js-yaml and the commands with what they import statically go into dist/bundle/ (cli.js, commands/**, chunks/), a few modules instead of some 150 files; what is
// imported dynamically (the runtime's Handlebars, prompts, listr2, the plugins) stays in node_modules.
// package.json's oclif.commands points at dist/bundle/commands, bin/run.js at cli.js's run, flush and handle.
// Runs after tsc, on dist/: the commands are the files under dist/commands.
import {readdirSync, rmSync, writeFileSync} from 'node:fs'
import {join, relative, sep} from 'node:path'
import {fileURLToPath} from 'node:url'

import {build} from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))
const commandsDir = join(root, 'dist', 'commands')

function walk(dir) {
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : [],
  )
}

const commands = walk(commandsDir)
  .map((file) => {
    const parts = relative(commandsDir, file).slice(0, -'.js'.length).split(sep)
    if (parts.at(-1) === 'index') parts.pop()
    return {file, id: parts.join(':')}
  })
  .sort((a, b) => a.id.localeCompare(b.id))

// bin/run.js's entry: oclif's execute. Each command is an entry of its own, so `--help` compiles no command and a
// command compiles only what it uses; what entries share (oclif, the base command, the runtime) is in shared chunks,
// one instance for all.
const entryFile = join(root, 'dist', 'bundle-entry.js')
// oclif's execute() in its three parts, so bin/run.js can say a file-system failure of oclif's own commands its way.
writeFileSync(
  entryFile,
  "export {run} from '@oclif/core/run'\nexport {flush} from '@oclif/core/flush'\nexport {handle} from '@oclif/core/handle'\n",
)
const entryPoints = {cli: entryFile}
for (const c of commands) entryPoints[join('commands', relative(commandsDir, c.file).slice(0, -'.js'.length))] = c.file

// Dependencies loaded on demand (dynamic import or createRequire) stay in node_modules.
// typescript and source-map-support: oclif's development mode (ts-node), never used by a built CLI.
const external = [
  'typescript',
  'ts-node',
  'tsx',
  'source-map-support',
  'source-map',
  '@inquirer/prompts',
  'listr2',
  'handlebars',
  '@oclif/plugin-*',
  '@morpheus/*',
  'morpheus',
  'morpheus/*',
]

// Chunks are named by their content's hash: start empty, so no chunk of an earlier build is left (or packed).
rmSync(join(root, 'dist', 'bundle'), {force: true, recursive: true})
const result = await build({
  metafile: Boolean(process.env.MORPHEUS_BUNDLE_META),
  banner: {
    // Bundled CommonJS (oclif) calls require() for Node's modules and for plugins found at run time.
    js: "import {createRequire as __morpheusRequire} from 'node:module'\nconst require = __morpheusRequire(import.meta.url)\n",
  },
  bundle: true,
  chunkNames: 'chunks/[name]-[hash]',
  entryNames: '[dir]/[name]',
  entryPoints,
  external,
  format: 'esm',
  legalComments: 'none',
  logLevel: 'error',
  outdir: join(root, 'dist', 'bundle'),
  platform: 'node',
  splitting: true,
  target: 'node20',
})
if (process.env.MORPHEUS_BUNDLE_META) {
  const {writeFileSync} = await import('node:fs')
  writeFileSync(process.env.MORPHEUS_BUNDLE_META, JSON.stringify(result.metafile))
}
console.log(`dist/bundle: cli.js and ${commands.length} commands`)
