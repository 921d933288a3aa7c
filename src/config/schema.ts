import type {ConfigKeySchema, ConfigSchema} from '../plugin-api/index.js'
import {editDistance} from '../suggest.js'

/** The type of one value a key schema admits (after validation; `${ENV}` references in lazy sections stay strings). */
export type SchemaValue<S> = S extends {type: 'object'; properties: infer P}
  ? SchemaValues<P>
  : S extends {type: 'map'; values: infer V}
    ? Record<string, SchemaValue<V>>
    : S extends {type: 'map'}
      ? Record<string, unknown>
      : S extends {type: 'string'; enum: readonly (infer E)[]}
        ? E
        : S extends {type: 'string'}
          ? string
          : S extends {type: 'number' | 'integer'}
            ? number
            : S extends {type: 'boolean'}
              ? boolean
              : S extends {type: 'string[]'}
                ? string[]
                : unknown

/**
 * The values `withDefaults(schema, validated)` gives, as a type: a key with a default (or an object,
 * which is always filled in) is always there; any other key may be missing or null (`registry:` with
 * nothing under it).
 */
export type SchemaValues<P> = {
  [K in keyof P]: P[K] extends {type: 'object'} | {default: unknown} ? SchemaValue<P[K]> : SchemaValue<P[K]> | null | undefined
}

export interface SchemaProblem {
  key: string
  message: string
}

function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  return typeof value === 'object' ? 'a mapping' : `${typeof value} ${JSON.stringify(value)}`
}

function checkValue(key: string, schema: ConfigKeySchema, value: unknown, problems: SchemaProblem[]): void {
  // A secret's value is never echoed back (only its type), even when it is the wrong type.
  const bad = (expected: string) =>
    problems.push({
      key,
      message: `must be ${expected}, got ${schema.secret && value !== null && typeof value !== 'object' ? typeof value : typeName(value)}`,
    })
  switch (schema.type) {
    case 'string': {
      if (typeof value !== 'string') return void bad('a string')
      if (schema.enum && !schema.enum.includes(value)) {
        problems.push({key, message: `must be one of ${schema.enum.join(', ')}, got "${value}"`})
      }
      return
    }
    case 'number':
    case 'integer': {
      if (typeof value !== 'number' || Number.isNaN(value)) return void bad(schema.type === 'integer' ? 'an integer' : 'a number')
      if (schema.type === 'integer' && !Number.isInteger(value)) return void bad('an integer')
      if (schema.minimum !== undefined && value < schema.minimum)
        problems.push({key, message: `must be at least ${schema.minimum}, got ${value}`})
      if (schema.maximum !== undefined && value > schema.maximum)
        problems.push({key, message: `must be at most ${schema.maximum}, got ${value}`})
      return
    }
    case 'boolean': {
      if (typeof value !== 'boolean') bad('true or false')
      return
    }
    case 'string[]': {
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) bad('a list of strings')
      return
    }
    case 'object': {
      if (!isPlainObject(value)) return void bad('a mapping')
      validateAgainst(schema.properties ?? {}, value, key, problems)
      return
    }
    case 'map': {
      if (!isPlainObject(value)) return void bad('a mapping')
      if (schema.values) for (const [k, v] of Object.entries(value)) checkValue(`${key}.${k}`, schema.values, v, problems)
    }
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Check `value` against `schema`; unknown keys are reported (with a "did you mean") so a
 * typo does not silently fall back to a default. `null` counts as "not set".
 */
export function validateAgainst(
  schema: ConfigSchema,
  value: Record<string, unknown>,
  prefix: string,
  problems: SchemaProblem[] = [],
): SchemaProblem[] {
  for (const [k, v] of Object.entries(value)) {
    const key = prefix ? `${prefix}.${k}` : k
    const keySchema = schema[k]
    if (!keySchema) {
      const near = Object.keys(schema).find((known) => closeEnough(known, k))
      problems.push({key, message: `is not a known key${near ? ` (did you mean "${near}"?)` : ''}`})
      continue
    }
    if (v === null || v === undefined) continue
    checkValue(key, keySchema, v, problems)
  }
  return problems
}

/** Levenshtein distance of at most 2 (for "did you mean"). */
export function closeEnough(a: string, b: string): boolean {
  return Math.abs(a.length - b.length) <= 2 && editDistance(a, b) <= 2
}

/** Fill in defaults from the schema (a fresh object; the input is not changed). */
export function withDefaults(schema: ConfigSchema, value: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {...value}
  for (const [k, s] of Object.entries(schema)) {
    if (s.type === 'object') {
      out[k] = withDefaults(s.properties ?? {}, isPlainObject(out[k]) ? (out[k] as Record<string, unknown>) : {})
    } else if ((out[k] === undefined || out[k] === null) && s.default !== undefined) {
      out[k] = structuredClone(s.default)
    } else if (s.type === 'map' && isPlainObject(s.default) && isPlainObject(out[k])) {
      // A map's default entries stay unless set: adding forest.sizes.xl keeps small/medium/large.
      out[k] = {...structuredClone(s.default), ...(out[k] as Record<string, unknown>)}
    }
  }
  return out
}

/** Look up the schema of a dotted key ("forest.sizes.small"). */
export function schemaFor(schema: ConfigSchema, dotted: string): ConfigKeySchema | undefined {
  const parts = dotted.split('.')
  let current: ConfigKeySchema | undefined = {type: 'object', description: '', properties: schema}
  for (const part of parts) {
    if (!current) return undefined
    if (current.type === 'object') current = current.properties?.[part]
    else if (current.type === 'map') current = current.values
    else return undefined
  }
  return current
}
