// Write the bash and zsh completion scripts into dist/completion/ (src/autocomplete/scripts.ts says why they live there).
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const {COMPLETION_DIR, SHELLS, script, scriptFile} = await import(new URL('../dist/autocomplete/scripts.js', import.meta.url))
const bin = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).oclif.bin
mkdirSync(join(root, COMPLETION_DIR), {recursive: true})
for (const shell of SHELLS) writeFileSync(join(root, COMPLETION_DIR, scriptFile(bin, shell)), script(bin, shell))
console.log(`${COMPLETION_DIR}: ${SHELLS.map((s) => scriptFile(bin, s)).join(', ')}`)
