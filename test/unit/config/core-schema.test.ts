import {coreSchema, type CoreConfig} from '../../../src/config/core-schema.js'
import {schemaFor, validateAgainst, withDefaults} from '../../../src/config/schema.js'
import type {ConfigSchema, NatsMode, NatsPorts} from '../../../src/plugin-api/index.js'

/** Keys CoreConfig says are always there (a default, or an object), checked in a defaulted config. */
function alwaysThere(schema: ConfigSchema, value: Record<string, unknown>, prefix = ''): string[] {
  const missing: string[] = []
  for (const [k, s] of Object.entries(schema)) {
    const key = prefix ? `${prefix}.${k}` : k
    if (s.type === 'object') {
      const v = value[k]
      if (typeof v !== 'object' || v === null) missing.push(key)
      else missing.push(...alwaysThere(s.properties ?? {}, v as Record<string, unknown>, key))
    } else if (s.default !== undefined && (value[k] === undefined || value[k] === null)) {
      missing.push(key)
    }
  }
  return missing
}

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

  test('CoreConfig, the type derived from it, holds for a defaulted config: every key it says is always there is', () => {
    expect(alwaysThere(coreSchema, withDefaults(coreSchema, {}))).toEqual([])
    expect(alwaysThere(coreSchema, withDefaults(coreSchema, {forest: null, growth: {enabled: false}, templates: {}}))).toEqual([])
    // The counter-check: a value without its defaults is caught.
    expect(alwaysThere(coreSchema, {forest: {ports: {}}})).toContain('forest.ports.client')
    // Compile-time half (npm run typecheck, ts-jest): the keys are typed as the schema says, unknown keys are errors.
    const typed = withDefaults(coreSchema, {}) as CoreConfig
    const ports: NatsPorts = typed.forest.ports
    const mode: NatsMode = typed.forest.nats_mode
    const provider: string = typed.infrastructure.provider
    const maxNodes: number = typed.growth.max_nodes
    const secret: string | undefined = typed.secrets?.hetzner_api_token
    // @ts-expect-error: forest has no key "no_such_key"
    expect(typed.forest.no_such_key).toBeUndefined()
    expect({maxNodes, mode, ports, provider, secret}).toEqual({
      maxNodes: 10,
      mode: 'system',
      ports: {client: 4222, cluster: 6222, monitor: 8222},
      provider: 'hetzner',
      secret: undefined,
    })
  })
})
