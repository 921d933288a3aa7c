import type {LoadedConfig} from '../../../src/config/config.js'
import {coreSchema, type CoreConfig} from '../../../src/config/core-schema.js'
import {checkKey, effectiveConfig, keySchemas, type InstalledPlugins, type KeySchemas} from '../../../src/config/keys.js'
import {withDefaults} from '../../../src/config/schema.js'
import type {ConfigSchema} from '../../../src/plugin-api/index.js'

const schemas: KeySchemas = {
  providers: new Map<string, ConfigSchema>([
    [
      'local',
      {
        data_dir: {default: 'local', description: 'd', type: 'string'},
        nats_server: {default: 'nats-server', description: 'n', type: 'string'},
      },
    ],
    ['hetzner', {}],
  ]),
  registry: {
    lock_timeout_seconds: {description: 'l', type: 'integer'},
    path: {description: 'p', type: 'string'},
    type: {description: 't', type: 'string'},
    unsafe_writes: {description: 'u', type: 'boolean'},
  },
}

const message = (key: string, s: KeySchemas = schemas) => {
  const r = checkKey(key, s)
  return r.known === false ? r.error.message : r.known
}

describe('config keys: known ones, "did you mean" for the others (a usage error, exit 2)', () => {
  test.each([
    ['forest.sizes.medium', true],
    ['forest.sizes.anything_new', true],
    ['forest.sizes', true],
    ['forest.ports.client', true],
    ['secrets.hetzner_api_token', true],
    ['providers.local.nats_server', true],
    ['providers', true],
    ['registry', true],
    ['registry.path', true],
    ['registry.unsafe_writes', true],
  ])('%s is known', (key, expected) => {
    expect(message(key)).toBe(expected)
  })

  test.each([
    ['forest.size', 'forest.size is not a known key (did you mean "forest.sizes"?)'],
    ['forest.sizs.huge', 'forest.sizs.huge is not a known key (did you mean "forest.sizes.huge"?)'],
    ['forst', 'forst is not a known key (did you mean "forest"?)'],
    ['zzzzzz', 'zzzzzz is not a known key'],
    ['providers.local.nats_srever', 'providers.local.nats_srever is not a known key (did you mean "providers.local.nats_server"?)'],
    ['providers.lcoal.data_dir', 'providers.lcoal.data_dir is not a known key (did you mean "providers.local.data_dir"?)'],
    ['registry.pth', 'registry.pth is not a known key (did you mean "registry.path"?)'],
    ['forest.sizes.medium.x', 'forest.sizes.medium.x is not a known key: forest.sizes.medium holds a single value'],
    ['forest.parallel.x', 'forest.parallel.x is not a known key: forest.parallel holds a single value'],
  ])('%s is not: %s', (key, expected) => {
    const r = checkKey(key, schemas)
    expect(r.known).toBe(false)
    if (r.known === false) {
      expect(r.error.message).toBe(expected)
      expect(r.error.exitCode).toBe(2)
    }
  })

  test('keys of a provider that is not installed, or of a registry backend that is not, cannot be checked: allowed, with why', () => {
    expect(checkKey('providers.someday.region', schemas)).toEqual({
      known: 'unchecked',
      note: 'no provider "someday" is installed (installed: local, hetzner)',
    })
    expect(checkKey('registry.bucket', {...schemas, registry: undefined})).toEqual({
      known: 'unchecked',
      note: 'the selected registry backend is not installed',
    })
  })

  test('the hint lists the keys at that level', () => {
    const r = checkKey('growth.max_node', schemas)
    expect(r.known === false && r.error.hint).toContain('Keys under growth: enabled, threshold_cpu')
  })
})

// keys.ts works on plain data (the installed plugins' descriptors), not on a Runtime (docs/architecture.md).
describe('config keys from the installed plugins', () => {
  const installed: InstalledPlugins = {
    providers: [{configSchema: {data_dir: {default: 'local', description: 'd', type: 'string'}}, name: 'local'}, {name: 'bare'}],
    registries: [
      {aliases: ['file'], configSchema: {path: {default: '~/.morpheus/registry.json', description: 'p', type: 'string'}}, name: 'none'},
      {configSchema: {bucket: {description: 'b', type: 'string'}}, name: 's3'},
    ],
  }

  test('keySchemas: every provider by name, the backend that registry.type (or its alias) selects', () => {
    const s = keySchemas(installed, {registry: {type: 'file'}})
    expect([...s.providers.keys()]).toEqual(['local', 'bare'])
    expect(Object.keys(s.registry ?? {})).toEqual(['type', 'unsafe_writes', 'path'])
    expect(Object.keys(keySchemas(installed, {registry: {type: 's3'}}).registry ?? {})).toEqual(['type', 'unsafe_writes', 'bucket'])
    expect(keySchemas(installed, {registry: {type: 'elsewhere'}}).registry).toBeUndefined()
    expect(Object.keys(keySchemas(installed, {}).registry ?? {})).toContain('path')
  })

  test('effectiveConfig: the defaults of the core, each provider and the selected backend, under what the file says', () => {
    const raw = {forest: {parallel: 2}, providers: {local: {data_dir: '/srv'}}}
    const config: LoadedConfig = {dir: '/', exists: true, path: '/config.yaml', raw, values: withDefaults(coreSchema, raw) as CoreConfig}
    const merged = effectiveConfig(config, installed, 'none') as {
      forest: {parallel: number; form_timeout_seconds: number}
      providers: unknown
      registry: unknown
    }
    expect(merged.forest.parallel).toBe(2)
    expect(merged.forest.form_timeout_seconds).toBe(60)
    expect(merged.providers).toEqual({local: {data_dir: '/srv'}})
    expect(merged.registry).toEqual({path: '~/.morpheus/registry.json', type: 'none'})
  })
})
