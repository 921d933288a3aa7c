// The JSON Schemas of every command's --json output (schemas/, docs/json.md), with a real validator
// (Ajv, draft 2020-12, strict): which schema an invocation's output must match, and whether it does.
import {readdirSync, readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

const require = createRequire(import.meta.url)
// Ajv is CommonJS; its default export is the class.
const Ajv2020 = require('ajv/dist/2020') as typeof import('ajv/dist/2020.js').default

export const SCHEMA_DIR = join(ROOT, 'schemas')

/** Every command id oclif.manifest.json lists (Morpheus's own commands, hidden ones included). */
export function manifestCommands(): string[] {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8'))
  return Object.keys(manifest.commands).sort()
}

/** The schema file of a command id: `registry:init` -> registry-init.json. */
export const schemaFile = (id: string) => `${id.replaceAll(':', '-')}.json`

/** oclif's own commands (plugins, help) share one schema. */
const OCLIF_TOPICS = ['plugins', 'help']

let ajv: InstanceType<typeof Ajv2020> | undefined

function validator(): InstanceType<typeof Ajv2020> {
  if (ajv) return ajv
  ajv = new Ajv2020({allErrors: true, allowUnionTypes: true, strict: true})
  for (const file of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.json'))) {
    ajv.addSchema(JSON.parse(readFileSync(join(SCHEMA_DIR, file), 'utf8')))
  }
  return ajv
}

/**
 * The schema (its $id) that `morpheus <args> --json` answers with: the command's own, the one for
 * oclif's commands, or the error envelope for an unknown command.
 */
export function schemaFor(args: readonly string[]): string {
  const words = args.filter((a) => !a.startsWith('-'))
  const ids = manifestCommands()
  for (let n = Math.min(words.length, 3); n > 0; n--) {
    const id = words.slice(0, n).join(':')
    if (ids.includes(id)) return schemaFile(id)
  }
  if (words.length > 0 && OCLIF_TOPICS.includes(words[0])) return 'oclif.json'
  return 'common.json#/$defs/errorEnvelope'
}

/** Problems of `output` against `schema` (an $id, optionally with a fragment); empty when it is valid. */
export function schemaProblems(schema: string, output: unknown): string[] {
  const validate = validator().getSchema(schema)
  if (!validate) throw new Error(`no schema ${schema} in ${SCHEMA_DIR}`)
  if (validate(output)) return []
  return (validate.errors ?? []).map(
    (e: {instancePath: string; message?: string; params?: unknown}) =>
      `${e.instancePath || '/'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`,
  )
}

/** Throw, naming the invocation and every problem, unless `output` matches the schema for `args`. */
export function assertMatchesSchema(args: readonly string[], output: unknown): void {
  const schema = schemaFor(args)
  const problems = schemaProblems(schema, output)
  if (problems.length > 0) {
    throw new Error(
      `morpheus ${args.join(' ')} --json does not match schemas/${schema}:\n  ${problems.slice(0, 15).join('\n  ')}\n${JSON.stringify(output, null, 2).slice(0, 3000)}`,
    )
  }
}
