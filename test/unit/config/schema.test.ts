import type {ConfigSchema} from '../../../src/plugin-api/index.js'
import {isPlainObject, schemaFor, validateAgainst, withDefaults} from '../../../src/config/schema.js'

const schema: ConfigSchema = {
  flag: {description: '', type: 'boolean'},
  list: {description: '', type: 'string[]'},
  mode: {description: '', enum: ['a', 'b'], type: 'string'},
  nested: {
    description: '',
    properties: {
      count: {default: 2, description: '', maximum: 9, minimum: 1, type: 'integer'},
      ratio: {description: '', type: 'number'},
    },
    type: 'object',
  },
  password: {description: '', secret: true, type: 'string'},
  sizes: {default: {one: 1}, description: '', type: 'map', values: {description: '', minimum: 1, type: 'integer'}},
  pin: {description: '', secret: true, type: 'integer'},
  free: {description: '', type: 'map'},
}

const messages = (value: Record<string, unknown>, prefix = '') => validateAgainst(schema, value, prefix).map((p) => `${p.key} ${p.message}`)

describe('validateAgainst', () => {
  test('a valid value has no problems', () => {
    expect(messages({flag: true, free: {anything: [1]}, list: ['a'], mode: 'a', nested: {count: 3, ratio: 0.5}, sizes: {two: 2}})).toEqual(
      [],
    )
  })

  test('each type reports its own problem with the dotted key', () => {
    expect(messages({flag: 'yes'})).toEqual(['flag must be true or false, got string "yes"'])
    expect(messages({list: ['a', 1]})).toEqual(['list must be a list of strings, got a list'])
    expect(messages({list: 'a'})).toEqual(['list must be a list of strings, got string "a"'])
    expect(messages({mode: 'c'})).toEqual(['mode must be one of a, b, got "c"'])
    expect(messages({nested: {count: 0}})).toEqual(['nested.count must be at least 1, got 0'])
    expect(messages({nested: {count: 10}})).toEqual(['nested.count must be at most 9, got 10'])
    expect(messages({nested: {count: 2.5}})).toEqual(['nested.count must be an integer, got number 2.5'])
    expect(messages({nested: {ratio: 'x'}})).toEqual(['nested.ratio must be a number, got string "x"'])
    expect(messages({nested: []})).toEqual(['nested must be a mapping, got a list'])
    expect(messages({sizes: {two: 0, three: 'x'}})).toEqual([
      'sizes.two must be at least 1, got 0',
      'sizes.three must be an integer, got string "x"',
    ])
    expect(messages({free: 'x'})).toEqual(['free must be a mapping, got string "x"'])
  })

  test('the prefix is put in front of every key', () => {
    expect(messages({nested: {zz: 1}}, 'providers.x')).toEqual(['providers.x.nested.zz is not a known key'])
  })

  test('unknown keys get a "did you mean" within two edits', () => {
    expect(messages({nestd: {}})).toEqual(['nestd is not a known key (did you mean "nested"?)'])
    expect(messages({nested: {cuont: 1}})).toEqual(['nested.cuont is not a known key (did you mean "count"?)'])
    expect(messages({completely_else: 1})).toEqual(['completely_else is not a known key'])
  })

  test('null and undefined mean "not set"', () => {
    expect(messages({flag: null, mode: undefined})).toEqual([])
  })

  test('NaN is not a number', () => {
    expect(messages({nested: {ratio: Number.NaN}})).toHaveLength(1)
  })

  test('a wrong-typed secret is reported without its value', () => {
    const problems = messages({password: 987654321, pin: 'abc-secret-pin'})
    expect(problems).toHaveLength(2)
    expect(problems[0]).toBe('password must be a string, got number')
    expect(problems[1]).toMatch(/^pin must be an integer, got string$/)
    expect(problems.join()).not.toContain('987654321')
    expect(problems.join()).not.toContain('abc-secret-pin')
  })
})

describe('withDefaults', () => {
  test('fills defaults at every level without changing the input', () => {
    const input = {nested: {ratio: 1}}
    const out = withDefaults(schema, input)
    expect(out).toEqual({nested: {count: 2, ratio: 1}, sizes: {one: 1}})
    expect(input).toEqual({nested: {ratio: 1}})
  })

  test('defaults are copies, not shared objects', () => {
    const a = withDefaults(schema) as any
    a.sizes.one = 99
    expect((withDefaults(schema) as any).sizes.one).toBe(1)
  })

  test('a map with a default keeps the default entries the value does not set', () => {
    expect(withDefaults(schema, {sizes: {two: 2}}).sizes).toEqual({one: 1, two: 2})
    expect(withDefaults(schema, {sizes: {one: 5}}).sizes).toEqual({one: 5})
  })
})

describe('schemaFor and isPlainObject', () => {
  test('walks objects and maps', () => {
    expect(schemaFor(schema, 'nested.count')?.type).toBe('integer')
    expect(schemaFor(schema, 'sizes.anything')?.minimum).toBe(1)
    expect(schemaFor(schema, 'free.x')).toBeUndefined()
    expect(schemaFor(schema, 'flag.deeper')).toBeUndefined()
    expect(schemaFor(schema, 'nope')).toBeUndefined()
  })

  test('isPlainObject', () => {
    expect(isPlainObject({})).toBe(true)
    expect(isPlainObject([])).toBe(false)
    expect(isPlainObject(null)).toBe(false)
    expect(isPlainObject('x')).toBe(false)
  })
})
