import {readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {startApache, type ApacheServer} from '../fixtures/webdav/apache.js'
import {hetznerConfig} from '../fixtures/hetzner-sim/config.js'
import {HetznerSim} from '../fixtures/hetzner-sim/server.js'
import {startStorageBoxApi, type StorageBoxApi} from '../fixtures/storagebox-api/simulator.js'
import {findSecret} from '../helpers/find-secret.js'
import {Sandbox} from '../helpers/cli.js'
import {assertMatchesSchema} from '../helpers/json-schema.js'

// Least privilege on nodes, end to end through the built CLI: `registry init --setup new-box` on the
// Storage Box API simulator makes the nodes' read-only sub-account; a cloud plan's user data (the
// Hetzner simulator) holds that account and never the registry's own password. Without a node
// account a cloud plant is refused (exit 3) and leaves nothing behind.
const TOKEN = 'e2e-token-0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e'
let apache: ApacheServer
let api: StorageBoxApi
let sim: HetznerSim
const sandboxes: Sandbox[] = []

beforeAll(async () => {
  apache = await startApache()
  // One project token for both APIs (Cloud and Storage Box), as the Hetzner Console gives it: the CLI reads it
  // with one precedence (secrets.hetzner_api_token, else HCLOUD_TOKEN, else HETZNER_API_TOKEN).
  api = await startStorageBoxApi({
    token: TOKEN,
    onPassword: (user, pw) => apache.addUser(user, pw),
    onSubaccount: (sub, pw) => apache.addUser(sub.username, pw),
  })
  const block = 110 + Math.floor(Math.random() * 8) * 10
  sim = new HetznerSim({bootMs: 200, ipv4Pool: [block, block + 9], tokens: {ro: [], rw: [TOKEN]}})
  await sim.start()
})
afterAll(async () => {
  for (const s of sandboxes) await s.cleanup()
  await sim?.stop()
  await api?.close()
  apache?.stop()
})
afterEach(() => expect(sim.violations).toEqual([]))

// No registry section: `registry init` writes it.
const cloud = hetznerConfig({hetzner: {boot_timeout_seconds: 10}, registry: null})

function sandbox(): Sandbox {
  const s = new Sandbox(cloud, {
    HCLOUD_ENDPOINT: sim.url,
    HCLOUD_TOKEN: TOKEN,
    HETZNER_API_TOKEN: api.token,
    HETZNER_ENDPOINT: api.endpoint,
  })
  sandboxes.push(s)
  return s
}

/** `registry init --setup existing-box` on Apache's `folder`, its password from $SB_PASSWORD. */
function existingBox(folder: string): string[] {
  return [
    'registry',
    'init',
    '--setup',
    'existing-box',
    '--url',
    `${apache.origin}/${folder}/registry.json`,
    '--username',
    apache.username,
    '--password-env',
    'SB_PASSWORD',
    '--json',
  ]
}

test("new box: every node's user data mounts the registry folder as the read-only sub-account; the box's own password is in none, in no encoding", async () => {
  const s = sandbox()
  const init = await s.run(
    ['registry', 'init', '--setup', 'new-box', '--box-name', 'least-privilege', '--webdav-origin', apache.origin, '--json'],
    {timeoutMs: 120_000},
  )
  expect(init.code).toBe(0)
  assertMatchesSchema(['registry', 'init'], JSON.parse(init.stdout))
  const box = [...api.boxes.values()].find((b) => b.name === 'least-privilege')!
  const sub = [...api.subaccounts.values()].find((x) => x.storage_box === box.id)!
  expect(sub.access_settings.readonly).toBe(true)
  expect(api.problems).toEqual([])

  const plan = await s.run(['plant', 'cloud', 'large', '--dry-run', '--json'], {timeoutMs: 120_000})
  expect(plan.code).toBe(0)
  const nodes = JSON.parse(plan.stdout).nodes as Array<{id: string; user_data: string}>
  expect(nodes).toHaveLength(5)
  for (const n of nodes) {
    expect(findSecret(n.user_data, box.password)).toEqual([])
    expect(findSecret(n.user_data, sub.password)).toContain('plain')
    expect(n.user_data).toContain(`username=${sub.username}`)
    expect(n.user_data).toContain(`What=//${sub.server}/${sub.username}`)
  }
  expect(findSecret(plan.stdout + plan.stderr, box.password)).toEqual([])
  expect(readFileSync(join(s.dir, 'config.yaml'), 'utf8')).not.toContain(sub.password)
}, 240_000)

test('no node account (a WebDAV server the API does not know): a cloud plant is refused, exit 3 with how to make one; nothing is left', async () => {
  const s = sandbox()
  const init = await s.run(existingBox('plain'), {env: {SB_PASSWORD: apache.password}})
  expect(init.code).toBe(0)
  assertMatchesSchema(['registry', 'init'], JSON.parse(init.stdout))
  expect(JSON.parse(init.stdout).setup.node_account.created).toBe(false)
  // A token the API refuses: the registry is still set up; the node account is left to be made by hand.
  const refused = await s.run(existingBox('plain'), {env: {HCLOUD_TOKEN: 'not-the-token', SB_PASSWORD: apache.password}})
  expect(refused.code).toBe(0)
  expect(JSON.parse(refused.stdout).setup.node_account).toEqual(
    expect.objectContaining({created: false, reason: expect.stringMatching(/refused the token/)}),
  )
  expect(refused.stdout + refused.stderr).not.toContain('not-the-token')
  const plan = await s.run(['plant', 'cloud', 'small', '--dry-run', '--json'], {env: {SB_PASSWORD: apache.password}, timeoutMs: 120_000})
  expect(plan.code).toBe(3)
  const error = JSON.parse(plan.stdout).error
  expect(error.message).toMatch(/no read-only account for the nodes/)
  expect(error.hint).toContain('registry.node_username')
  const planted = await s.run(['plant', 'cloud', 'small', '--yes', '--json'], {env: {SB_PASSWORD: apache.password}, timeoutMs: 120_000})
  expect(planted.code).toBe(3)
  expect(sim.paid()).toEqual({primaryIps: [], servers: []})
  expect(findSecret(plan.stdout + plan.stderr + planted.stdout + planted.stderr, apache.password)).toEqual([])
}, 240_000)

test('a node account made by hand: registry.node_username / node_password (secret: masked, file 0600) go into the user data, the main password does not', async () => {
  const s = sandbox()
  const env = {NODE_PW: 'Hand-made-node-pw-3!', SB_PASSWORD: apache.password}
  const init = await s.run(existingBox('byhand'), {env})
  expect(init.code).toBe(0)
  expect((await s.run(['config', 'set', 'registry.node_username', 'u777-sub1'], {env})).code).toBe(0)
  expect((await s.run(['config', 'set', 'registry.node_password', '${NODE_PW}'], {env})).code).toBe(0)
  expect(statSync(join(s.dir, 'config.yaml')).mode & 0o777).toBe(0o600)
  const list = await s.run(['config', 'list', '--json'], {env})
  expect(list.code).toBe(0)
  expect(list.stdout).not.toContain('Hand-made-node-pw-3!')
  const plan = await s.run(['plant', 'cloud', 'small', '--dry-run', '--json'], {env, timeoutMs: 120_000})
  expect(plan.code).toBe(0)
  for (const n of JSON.parse(plan.stdout).nodes as Array<{user_data: string}>) {
    expect(n.user_data).toMatch(/username=u777-sub1\n\s*password=Hand-made-node-pw-3!\n/)
    expect(findSecret(n.user_data, apache.password)).toEqual([])
  }
  // The registry's own account as the node account is refused.
  expect((await s.run(['config', 'set', 'registry.node_username', apache.username], {env})).code).toBe(0)
  const own = await s.run(['plant', 'cloud', 'small', '--dry-run', '--json'], {env, timeoutMs: 120_000})
  expect(own.code).toBe(3)
  expect(JSON.parse(own.stdout).error.message).toMatch(/registry's own read-write account/)
}, 240_000)
