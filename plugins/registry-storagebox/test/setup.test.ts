import type {PluginContext, RegistrySetupRequest} from '../../../src/plugin-api/index.js'
import {MemoryRegistry, testContext} from '../../../src/testing/index.js'
import {questions} from '../../../src/ui/questions.js'
import {startStorageBoxApi, type StorageBoxApi} from '../../../test/fixtures/storagebox-api/simulator.js'
import registries from '../src/hooks/registries.js'
import {NODE_MOUNT_SECRET, REGISTRY_SECRETS, parseNodeMount} from '../src/node-account.js'

// The storagebox backend's guided set-up (RegistryDescriptor.setup) against the Storage Box API
// simulator (strict: it refuses what the API reference would refuse), with the in-memory registry
// standing in for the new box's WebDAV.
let api: StorageBoxApi
beforeAll(async () => {
  api = await startStorageBoxApi({actionMs: 20, readyAfterMs: 20})
})
afterAll(() => api?.close())

async function rejection(p: Promise<unknown>): Promise<any> {
  try {
    await p
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

const noTerminal = (given: Record<string, string | undefined>, env: NodeJS.ProcessEnv = {}) =>
  questions({env, given, interactive: false, prompts: async () => Promise.reject(new Error('no terminal'))})

async function setUp(
  choice: string,
  given: Record<string, string | undefined>,
  secrets: Record<string, string>,
  log: PluginContext['log'] = {debug() {}, info() {}, warn() {}},
  env: NodeJS.ProcessEnv = {},
) {
  const [descriptor] = await registries()
  expect(descriptor.setup?.choices.map((c) => c.value)).toEqual(['new-box', 'existing-box'])
  expect(descriptor.setup?.secrets).toEqual(['hetzner_api_token'])
  const run = await descriptor.setup!.load()
  const request: RegistrySetupRequest = {choice, context: testContext({}, {log, secrets}), questions: noTerminal(given, env)}
  return run(request)
}

test("existing-box: the section from the answers (the password as a ${VAR} reference); finish makes the nodes' read-only account and keeps it in the registry's secret storage", async () => {
  const made = (
    await setUp('new-box', {'api-endpoint': api.endpoint, 'box-name': 'existing-1', folder: 'morpheus'}, {hetzner_api_token: api.token})
  ).section
  const setup = await setUp(
    'existing-box',
    {'api-endpoint': api.endpoint, 'password-env': 'BOX_PW', url: String(made.url), username: String(made.username)},
    {hetzner_api_token: api.token},
    undefined,
    {BOX_PW: 'x'},
  )
  expect(setup.section).toEqual({
    password: '${BOX_PW}',
    storagebox_host: new URL(String(made.url)).hostname,
    type: 'storagebox',
    url: made.url,
    username: made.username,
  })
  expect(setup.report).toEqual({})
  const registry = new MemoryRegistry()
  const finished = await setup.finish!(registry)
  const sub = [...api.subaccounts.values()].find((s) => s.home_directory === 'morpheus' && s.username.startsWith(String(made.username)))!
  expect(finished).toEqual({node_account: {created: true, home_directory: 'morpheus', server: sub.server, username: sub.username}})
  expect(sub.access_settings).toMatchObject({readonly: true, samba_enabled: true, webdav_enabled: false})
  const kept = parseNodeMount((await registry.secrets.get(REGISTRY_SECRETS, NODE_MOUNT_SECRET))!)
  expect(kept).toEqual({password: sub.password, server: sub.server, username: sub.username})
  expect(api.problems).toEqual([])
})

test('new-box: the box is made through the API and the section points at its WebDAV folder; no token is a CONFIG error, a refused token too', async () => {
  const setup = await setUp(
    'new-box',
    {
      'api-endpoint': api.endpoint,
      'box-name': 'made-1',
      'box-type': 'bx11',
      folder: '/forests/',
      location: 'fsn1',
      'webdav-origin': 'http://127.0.0.1:1/',
    },
    {hetzner_api_token: api.token},
  )
  const box = [...api.boxes.values()].find((b) => b.name === 'made-1')!
  expect(setup.report).toEqual({box: {existed: false, id: box.id, name: 'made-1', server: box.server, username: box.username}})
  expect(setup.section).toEqual({
    password: box.password,
    storagebox_host: box.server,
    type: 'storagebox',
    url: 'http://127.0.0.1:1/forests/registry.json',
    username: box.username,
  })
  const none = await rejection(setUp('new-box', {'api-endpoint': api.endpoint}, {}))
  expect(none.code).toBe('CONFIG')
  expect(none.message).toBe('creating a Storage Box needs a Hetzner API token')
  const refused = await rejection(
    setUp('new-box', {'api-endpoint': api.endpoint, 'box-name': 'made-2'}, {hetzner_api_token: 'not-the-token'}),
  )
  expect(refused.code).toBe('CONFIG')
  expect(refused.message).toMatch(/refused the token/)
  expect(refused.hint).toMatch(/HETZNER_API_TOKEN/)
})

test("without a token or secret storage the nodes' account is not made: a warning says how to make it by hand, and the set-up still succeeds", async () => {
  const warnings: string[] = []
  const setup = await setUp(
    'existing-box',
    {'password-env': 'BOX_PW', url: 'https://u5.example.org/morpheus/registry.json', username: 'u5'},
    {},
    {debug() {}, info() {}, warn: (m) => warnings.push(m)},
    {BOX_PW: 'x'},
  )
  const finished = (await setup.finish!(new MemoryRegistry())) as {node_account: {created: boolean; reason: string; hint: string}}
  expect(finished.node_account.created).toBe(false)
  expect(finished.node_account.reason).toMatch(/no Hetzner API token/)
  expect(finished.node_account.hint).toContain('home directory "morpheus"')
  expect(warnings.join('\n')).toMatch(/No read-only account for the nodes was made/)
  // a missing answer without a terminal is the core's usage error, naming the flag
  const e = await rejection(setUp('existing-box', {url: 'https://u5.example.org/morpheus/registry.json'}, {}))
  expect(e.message).toBe('--username is required without a terminal')
})
