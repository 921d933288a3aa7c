import {readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {load} from 'js-yaml'

import {ROOT, Sandbox} from '../helpers/cli.js'
import {coreSchema} from '../../src/config/core-schema.js'

describe('config commands and config.example.yaml', () => {
  let sb: Sandbox
  beforeAll(() => {
    sb = new Sandbox()
  })
  afterAll(async () => sb.cleanup())

  test('config.example.yaml is accepted as it is, and documents every core key', async () => {
    const example = readFileSync(join(ROOT, 'config.example.yaml'), 'utf8')
    sb.writeRawConfig(example)
    const listed = await sb.json(['config', 'list'])
    expect(listed.values.forest.sizes).toEqual({large: 5, medium: 3, small: 1})
    // Plugin defaults are listed too: the local provider's and the selected registry backend's.
    expect(listed.values.providers.local).toEqual(expect.objectContaining({nats_server: 'nats-server', start_timeout_seconds: 10}))
    expect(listed.values.registry).toEqual(expect.objectContaining({lock_timeout_seconds: 10, path: 'registry.json', type: 'none'}))
    const parsed = load(example) as Record<string, any>
    const missing: string[] = []
    const walk = (schema: Record<string, any>, value: Record<string, any> | undefined, prefix: string) => {
      for (const [k, s] of Object.entries(schema)) {
        if (!value || !(k in value)) missing.push(prefix + k)
        else if (s.type === 'object') walk(s.properties, value[k], `${prefix}${k}.`)
      }
    }
    walk(coreSchema, parsed, '')
    expect(missing).toEqual([])
  })

  test('set, get, unset, path: validated before writing, file mode 0600, secrets masked', async () => {
    sb.writeRawConfig('')
    expect((await sb.json(['config', 'path'])).path).toBe(join(sb.dir, 'config.yaml'))
    await sb.json(['config', 'set', 'forest.sizes.medium', '7'])
    expect((await sb.json(['config', 'get', 'forest.sizes.medium'])).value).toBe(7)
    expect(statSync(join(sb.dir, 'config.yaml')).mode & 0o777).toBe(0o600)

    const bad = await sb.run(['config', 'set', 'forest.sizes.medium', 'three'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('forest.sizes.medium must be an integer')
    expect((await sb.json(['config', 'get', 'forest.sizes.medium'])).value).toBe(7)

    await sb.json(['config', 'set', 'secrets.hetzner_api_token', 'hunter2-very-secret'])
    for (const args of [
      ['config', 'get', 'secrets.hetzner_api_token'],
      ['config', 'list'],
      ['config', 'get', 'secrets'],
    ]) {
      const r = await sb.run(args)
      expect(r.code).toBe(0)
      expect(r.stdout + r.stderr).not.toContain('hunter2')
    }
    await sb.json(['config', 'set', 'secrets.hetzner_api_token', '${HCLOUD_TOKEN}'])
    expect((await sb.json(['config', 'get', 'secrets.hetzner_api_token'])).value).toBe('${HCLOUD_TOKEN}')

    const s3 = await sb.run(['config', 'set', 'registry.type', 's3'])
    expect(s3.code).toBe(0)
    expect(s3.stderr).toContain(
      'no registry backend "s3" is installed yet (installed: none, storagebox); install its plugin with `morpheus plugins install @morpheus/registry-s3`',
    )
    expect((await sb.run(['list'])).code).toBe(8)
    await sb.json(['config', 'unset', 'registry.type'])
    expect((await sb.run(['config', 'set', 'registry.type', 'none'])).stderr).toBe('')

    await sb.json(['config', 'unset', 'forest.sizes.medium'])
    expect((await sb.json(['config', 'get', 'forest.sizes.medium'])).value).toBe(3)
    const gone = await sb.run(['config', 'unset', 'forest.sizes.medium', '--json'])
    expect(gone.code).toBe(0)
    expect(JSON.parse(gone.stdout)).toEqual(expect.objectContaining({removed: false}))
  }, 180_000) // some twenty CLI runs one after another: slow on a busy machine

  test('a missing ${ENV} reference is named with its key, and the plant stops before anything exists', async () => {
    sb.writeConfig('registry:\n  type: none\n  path: ${MORPHEUS_TEST_UNSET_VAR}/registry.json\n')
    const r = await sb.run(['plant', 'local', 'small'])
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('registry.path refers to ${MORPHEUS_TEST_UNSET_VAR}')
    const ok = await sb.run(['list'], {env: {MORPHEUS_TEST_UNSET_VAR: sb.dir}})
    expect(ok.code).toBe(0)
  })

  test('registry init creates an empty, valid document once, mode 0600, and leaves an existing one alone', async () => {
    sb.writeConfig('')
    const first = await sb.json(['registry', 'init'])
    expect(first).toEqual(expect.objectContaining({created: true, location: sb.registryPath}))
    expect(first.probe.concurrency).toBe('compare-and-swap')
    expect(sb.registry()).toEqual(expect.objectContaining({forests: {}, nodes: {}, version: 1}))
    expect(statSync(sb.registryPath).mode & 0o777).toBe(0o600)
    const before = readFileSync(sb.registryPath, 'utf8')
    expect((await sb.json(['registry', 'init'])).created).toBe(false)
    expect(readFileSync(sb.registryPath, 'utf8')).toBe(before)
    const info = await sb.json(['registry', 'info'])
    expect(info).toEqual(expect.objectContaining({backend: 'none', exists: true, forest_count: 0, location: sb.registryPath}))
  })
})
