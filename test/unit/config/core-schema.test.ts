import {coreSchema} from '../../../src/config/core-schema.js'
import {schemaFor, validateAgainst, withDefaults} from '../../../src/config/schema.js'

describe('coreSchema', () => {
  test('its defaults are what the docs promise', () => {
    const d = withDefaults(coreSchema, {}) as any
    expect(d.forest.sizes).toEqual({large: 5, medium: 3, small: 1})
    expect(d.forest.form_timeout_seconds).toBe(60)
    expect(d.forest.parallel).toBe(5)
    expect(d.forest.nats_mode).toBe('system')
    expect(d.forest.ports).toEqual({client: 4222, cluster: 6222, monitor: 8222})
    expect(d.infrastructure.provider).toBe('hetzner')
  })

  test('its own defaults pass its own validation', () => {
    expect(validateAgainst(coreSchema, withDefaults(coreSchema, {}), '')).toEqual([])
  })

  test('secrets.* are secret and strings; plugin sections are free-form maps', () => {
    expect(schemaFor(coreSchema, 'secrets.x')).toMatchObject({secret: true, type: 'string'})
    expect(validateAgainst(coreSchema, {providers: {local: {anything: 1}}, registry: {type: 'none', whatever: true}}, '')).toEqual([])
    expect(validateAgainst(coreSchema, {providers: {local: 'x'}}, '').map((p) => p.key)).toEqual(['providers.local'])
    expect(validateAgainst(coreSchema, {secrets: {a: 1}}, '').map((p) => p.key)).toEqual(['secrets.a'])
  })

  test('sizes must be whole numbers from 1 to 100', () => {
    const keys = (sizes: unknown) => validateAgainst(coreSchema, {forest: {sizes}}, '').map((p) => `${p.key} ${p.message}`)
    expect(keys({small: 1, huge: 100})).toEqual([])
    expect(keys({small: 0})).toEqual(['forest.sizes.small must be at least 1, got 0'])
    expect(keys({huge: 101})).toEqual(['forest.sizes.huge must be at most 100, got 101'])
  })
})
