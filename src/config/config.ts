import {mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync, openSync, fsyncSync, closeSync} from 'node:fs'
import {homedir} from 'node:os'
import {dirname, isAbsolute, join, resolve} from 'node:path'
import {dump, load} from 'js-yaml'

import {MorpheusError} from '../errors.js'
import {toFsError, withFs} from '../fs-errors.js'
import type {ConfigSchema} from '../plugin-api/index.js'
import {coreSchema, type CoreConfig} from './core-schema.js'
import {isPlainObject, schemaFor, validateAgainst, withDefaults} from './schema.js'

export interface LoadedConfig {
  /** Absolute path of the config file (it may not exist). */
  path: string
  dir: string
  exists: boolean
  /** The file as written (no expansion, no defaults): what `config set` edits. */
  raw: Record<string, unknown>
  /** Expanded, validated against the core's schema and defaulted: what the program uses. */
  values: CoreConfig
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.MORPHEUS_CONFIG
  if (fromEnv) return resolve(fromEnv)
  return join(homedir(), '.morpheus', 'config.yaml')
}

function configError(file: string, message: string, hint?: string): MorpheusError {
  return new MorpheusError('CONFIG', `${file}: ${message}`, {
    hint: hint ?? 'Fix it in the file (every key is described in config.example.yaml).',
  })
}

/** Where the file's YAML breaks, in one line, without repeating the file's name (js-yaml puts it in its message). */
function yamlProblem(error: unknown): {text: string; line?: number} {
  const e = error as {reason?: string; mark?: {line?: number; column?: number}; message?: string}
  if (typeof e?.reason === 'string' && typeof e.mark?.line === 'number') {
    const line = e.mark.line + 1
    return {line, text: `${e.reason} (line ${line}, column ${(e.mark.column ?? 0) + 1})`}
  }
  return {text: String(e?.message ?? error).split('\n')[0]}
}

/** Read and parse the file without expanding or validating it. */
export function readRawConfig(path: string): {raw: Record<string, unknown>; exists: boolean} {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    // No file, or a file where one of its directories should be: there is no config (yet).
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return {raw: {}, exists: false}
    throw (
      toFsError(error, {instead: 'point MORPHEUS_CONFIG at another file', operation: 'read', path, what: 'the config file'}) ??
      configError(path, `cannot be read: ${(error as Error).message}`)
    )
  }
  // An empty file, or one with only comments, is an empty config (js-yaml 5 refuses an empty document).
  if (text.split('\n').every((line) => /^\s*(#.*)?$/.test(line))) return {raw: {}, exists: true}
  let parsed: unknown
  const aside = `or move it aside to start from the defaults: mv ${path} ${path}.broken`
  try {
    parsed = load(text)
  } catch (error) {
    const problem = yamlProblem(error)
    throw configError(
      path,
      `not valid YAML: ${problem.text}`,
      `Fix ${problem.line ? `line ${problem.line}` : 'the file'} (YAML: "key: value", nested keys indented), ${aside}.`,
    )
  }
  if (parsed === undefined || parsed === null) return {raw: {}, exists: true}
  if (!isPlainObject(parsed))
    throw configError(
      path,
      `must be a YAML mapping of keys to values (e.g. "forest:" and, indented below it, "parallel: 5"), not ${Array.isArray(parsed) ? 'a list' : `a single ${typeof parsed}`}`,
      `Fix the file, ${aside}.`,
    )
  return {raw: parsed, exists: true}
}

const ENV_REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

/** Expand `${VAR}` and `${VAR:-default}` in every string value; `$${` stands for a literal `${`. */
export function expandEnv(value: unknown, file: string, env: NodeJS.ProcessEnv = process.env, key = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$${') return '${'
      const found = env[name!]
      if (found !== undefined && found !== '') return found
      if (fallback !== undefined) return fallback
      throw configError(
        file,
        `${key || 'a value'} refers to \${${name}}, which is not set in the environment`,
        `Export ${name}, or give ${key} a value in the file.`,
      )
    })
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, file, env, `${key}[${i}]`))
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = expandEnv(v, file, env, key ? `${key}.${k}` : k)
    return out
  }
  return value
}

const LAZY_SECTIONS = new Set(['providers', 'registry', 'secrets'])

export function validateCore(raw: Record<string, unknown>, file: string): void {
  const problems = validateAgainst(coreSchema, raw, '')
  if (problems.length > 0) {
    const lines = problems.map((p) => `  ${p.key} ${p.message}`)
    throw configError(
      file,
      `has ${problems.length === 1 ? 'an error' : `${problems.length} errors`}:\n${lines.join('\n')}`,
      `Fix it in the file, or remove the key: \`morpheus config unset ${problems[0].key}\` (every key is described in config.example.yaml).`,
    )
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const path = configPath(env)
  const {raw, exists} = readRawConfig(path)
  // Sections that belong to plugins, and secrets, are expanded when they are used, so a
  // variable that only one backend or provider needs does not stop every other command.
  const expanded: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(raw)) expanded[k] = LAZY_SECTIONS.has(k) ? v : expandEnv(v, path, env, k)
  validateCore(expanded, path)
  // validateCore checked `expanded` against coreSchema, and withDefaults filled in what it leaves out: the shape CoreConfig describes.
  return {dir: dirname(path), exists, path, raw, values: withDefaults(coreSchema, expanded) as CoreConfig}
}

/** Validate and default a plugin's section against its schema, naming the key and the file. */
export function pluginSection(
  config: LoadedConfig,
  prefix: string,
  schema: ConfigSchema | undefined,
  rawSection: Record<string, unknown>,
  ignore: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Record<string, unknown> {
  const section = expandEnv(rawSection, config.path, env, prefix) as Record<string, unknown>
  const toCheck = Object.fromEntries(Object.entries(section).filter(([k]) => !ignore.includes(k)))
  if (schema) {
    const problems = validateAgainst(schema, toCheck, prefix)
    if (problems.length > 0) {
      throw configError(config.path, problems.map((p) => `${p.key} ${p.message}`).join('; '))
    }
    return withDefaults(schema, section)
  }
  return {...section}
}

/** Resolve a path from the config: `~` is the home directory, relative paths start at the config's directory. */
export function resolveConfigPath(config: LoadedConfig, value: string): string {
  if (value === '~' || value.startsWith('~/')) return join(homedir(), value.slice(1))
  return isAbsolute(value) ? value : resolve(config.dir, value)
}

// ---------------------------------------------------------------------------
// Dotted keys for `config get|set|unset`
// ---------------------------------------------------------------------------
export function getKey(obj: Record<string, unknown>, dotted: string): unknown {
  let current: unknown = obj
  for (const part of dotted.split('.')) {
    if (!isPlainObject(current)) return undefined
    current = current[part]
  }
  return current
}

export function setKey(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.')
  let current = obj
  for (const part of parts.slice(0, -1)) {
    if (!isPlainObject(current[part])) current[part] = {}
    current = current[part] as Record<string, unknown>
  }
  current[parts.at(-1)!] = value
}

/** Remove a key; mappings left empty by that are removed too (an empty `sizes: {}` would only confuse). */
export function unsetKey(obj: Record<string, unknown>, dotted: string): boolean {
  const parts = dotted.split('.')
  const container = parts.length === 1 ? obj : getKey(obj, parts.slice(0, -1).join('.'))
  if (!isPlainObject(container) || !Object.hasOwn(container, parts.at(-1)!)) return false
  delete container[parts.at(-1)!]
  for (let depth = parts.length - 1; depth > 0; depth--) {
    const parentPath = parts.slice(0, depth)
    const parent = getKey(obj, parentPath.join('.'))
    if (!isPlainObject(parent) || Object.keys(parent).length > 0) break
    const holder = depth === 1 ? obj : (getKey(obj, parentPath.slice(0, -1).join('.')) as Record<string, unknown>)
    delete holder[parentPath.at(-1)!]
  }
  return true
}

const SECRET_NAME = /(password|secret|token|access_key|private_key)/i

/** Is this key a secret, by schema or by name? */
export function isSecretKey(dotted: string, schema: ConfigSchema = coreSchema): boolean {
  return Boolean(schemaFor(schema, dotted)?.secret) || SECRET_NAME.test(dotted.split('.').at(-1) ?? '')
}

/** Mask a secret for display: an ${ENV} reference is shown (it is not the secret), a literal is not (nor a reference's literal default). */
export function displayValue(dotted: string, value: unknown, isSecret: (dotted: string) => boolean = (k) => isSecretKey(k)): unknown {
  if ((typeof value === 'string' || typeof value === 'number') && isSecret(dotted)) {
    const ref = typeof value === 'string' ? /^\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}$/.exec(value) : null
    if (!ref) return '********'
    return ref[2] && ref[2] !== ':-' ? `\${${ref[1]}:-********}` : value
  }
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, displayValue(`${dotted}.${k}`, v, isSecret)]))
  }
  return value
}

/** Write atomically with mode 0600 (the file may hold secrets); a file-system failure is exit 10, naming the file. */
export function writeConfig(path: string, raw: Record<string, unknown>): void {
  const fs = {instead: 'point MORPHEUS_CONFIG at a file in a writable directory', path, what: 'the config file'}
  withFs({...fs, operation: 'create the directory of'}, () => mkdirSync(dirname(path), {mode: 0o700, recursive: true}))
  const tmp = `${path}.${process.pid}.tmp`
  const header = '# Morpheus configuration. Every key is documented in config.example.yaml.\n'
  try {
    withFs({...fs, operation: 'write'}, () => {
      writeFileSync(tmp, header + (Object.keys(raw).length > 0 ? dump(raw, {lineWidth: 120, noRefs: true}) : ''), {mode: 0o600})
      const fd = openSync(tmp, 'r')
      try {
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(tmp, path)
      chmodSync(path, 0o600)
    })
  } catch (error) {
    rmSync(tmp, {force: true})
    throw error
  }
}

/** Parse a value typed on the command line the way YAML would (numbers, booleans, lists). */
export function parseCliValue(text: string): unknown {
  try {
    const v = load(text)
    return v === undefined ? '' : v
  } catch {
    return text
  }
}
