/**
 * The hook file: a descriptor the core accepts, a schema the core validates the registry section
 * with (keys marked secret, ${ENV} references expanded), and no import but types (the AWS SDK is
 * load()'s business; test/e2e/s3-plugin.test.ts checks that at run time).
 */
import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {pluginSection, type LoadedConfig} from '../../../src/config/config.js'
import registries from '../src/hooks/registries.js'

const HOOK_SOURCE = fileURLToPath(new URL('../src/hooks/registries.ts', import.meta.url))
const config = {dir: '/', path: '/config.yaml'} as LoadedConfig

test('one descriptor: s3, plugin API 2, remote, a load() function', async () => {
  const [d, ...rest] = await registries()
  expect(rest).toEqual([])
  expect(d).toMatchObject({apiVersion: 2, capabilities: {remote: true}, name: 's3'})
  expect(typeof d.load).toBe('function')
  expect(
    Object.entries(d.configSchema!)
      .filter(([, v]) => v.secret)
      .map(([k]) => k)
      .sort(),
  ).toEqual(['access_key_id', 'secret_access_key', 'session_token'])
})

test('the hook module imports nothing at run time: only `import type`, and the implementation through load()', () => {
  const source = readFileSync(HOOK_SOURCE, 'utf8')
  const imports = source.split('\n').filter((line) => /^\s*import\b/.test(line))
  expect(imports).toEqual(["import type {RegistryDescriptor} from 'morpheus/plugin-api'"])
  expect(source).toContain("load: async () => (await import('../s3-registry.js')).createS3Registry")
})

test('the core validates a registry section against the schema: defaults filled, ${ENV} expanded, a misspelt key named', async () => {
  const [d] = await registries()
  const section = pluginSection(
    config,
    'registry',
    d.configSchema,
    {access_key_id: '${K}', bucket: 'b1', secret_access_key: '${S}', type: 's3'},
    ['type', 'unsafe_writes'],
    {K: 'key-from-env', S: 'secret-from-env'},
  )
  expect(section).toMatchObject({
    access_key_id: 'key-from-env',
    bucket: 'b1',
    force_path_style: false,
    key: 'morpheus/registry.json',
    secret_access_key: 'secret-from-env',
    timeout_seconds: 30,
  })
  expect(() => pluginSection(config, 'registry', d.configSchema, {bucket: 'b1', force_path_stlye: true}, ['type'])).toThrow(
    /registry\.force_path_stlye is not a known key/,
  )
  expect(() => pluginSection(config, 'registry', d.configSchema, {bucket: 'b1', timeout_seconds: 0}, ['type'])).toThrow(
    /registry\.timeout_seconds/,
  )
})
