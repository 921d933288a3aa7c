// Build the core, then each plugin, then oclif.manifest.json (fast start-up: no command is imported to list them).
import {execFileSync} from 'node:child_process'
import {readdirSync, rmSync} from 'node:fs'

const tsc = 'node_modules/typescript/bin/tsc'
const run = (args) => execFileSync(process.execPath, args, {stdio: 'inherit'})

rmSync('dist', {force: true, recursive: true})
run([tsc, '-p', '.'])
for (const name of readdirSync('plugins')) {
  rmSync(`plugins/${name}/dist`, {force: true, recursive: true})
  run([tsc, '-p', `plugins/${name}`])
}
run(['scripts/manifest.js'])
