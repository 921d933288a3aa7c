// Build the core (tsc overwrites dist/ in place; CI starts from a clean clone), then each plugin, then oclif.manifest.json (fast start-up: no command is imported to list them).
import {execFileSync} from 'node:child_process'
import {readdirSync} from 'node:fs'

const tsc = 'node_modules/typescript/bin/tsc'
const run = (args) => execFileSync(process.execPath, args, {stdio: 'inherit'})

run([tsc, '-p', '.'])
for (const name of readdirSync('plugins')) {
  run([tsc, '-p', `plugins/${name}`])
}
run(['scripts/startup-bundle.js'])
run(['scripts/manifest.js'])
run(['scripts/completion.js'])
