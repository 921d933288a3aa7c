import {existsSync, readFileSync, statSync, unlinkSync} from 'node:fs'
import {join} from 'node:path'

import {load} from 'js-yaml'

import {Sandbox, onTerminal} from '../helpers/cli.js'
import {startApache, type ApacheServer} from '../fixtures/webdav/apache.js'
import {startStorageBoxApi, type StorageBoxApi} from '../fixtures/storagebox-api/simulator.js'

// `registry init` end to end: the built CLI, the Storage Box API simulator (it validates every
// request) and a real Apache mod_dav standing in for the box's WebDAV.
let apache: ApacheServer
let api: StorageBoxApi
const passwords: string[] = []
const sandboxes: Sandbox[] = []

beforeAll(async () => {
  apache = await startApache()
  api = await startStorageBoxApi({
    onPassword: (user, pw) => {
      passwords.push(pw)
      apache.addUser(user, pw)
    },
  })
})
afterAll(async () => {
  await api?.close()
  apache?.stop()
  for (const s of sandboxes) await s.cleanup()
})

function sandbox(config = ''): Sandbox {
  const s = new Sandbox(config, {HETZNER_API_TOKEN: api.token, HETZNER_ENDPOINT: api.endpoint})
  sandboxes.push(s)
  return s
}

const configOf = (s: Sandbox) => load(readFileSync(join(s.dir, 'config.yaml'), 'utf8')) as any

function expectNoSecret(text: string) {
  for (const pw of [...passwords, apache.password]) expect(text).not.toContain(pw)
}

/** `registry init --setup new-box` of the box morpheus-e2e, its WebDAV on Apache. */
const newBoxArgs = (): string[] => [
  'registry',
  'init',
  '--setup',
  'new-box',
  '--box-name',
  'morpheus-e2e',
  '--webdav-origin',
  apache.origin,
  '--json',
]

test('new box: created through the API, ready, WebDAV/SMB/external on, config 0600, document created; a re-run reuses it', async () => {
  const s = sandbox()
  const r = await s.run(newBoxArgs())
  expect(r.code).toBe(0)
  const out = JSON.parse(r.stdout)
  expect(out.created).toBe(true)
  expect(out.probe.concurrency).toBe('lock')
  const box = [...api.boxes.values()].find((b) => b.name === 'morpheus-e2e')!
  expect(box.status).toBe('active')
  expect(box.access_settings).toEqual(expect.objectContaining({reachable_externally: true, samba_enabled: true, webdav_enabled: true}))
  expect(out.setup.box).toEqual(expect.objectContaining({existed: false, server: box.server, username: box.username}))
  expect(api.problems).toEqual([])
  expect(api.requests.map((q) => `${q.method} ${q.path.replace(/\d+/g, 'N')}`)).toEqual(
    expect.arrayContaining([
      'POST /vN/storage_boxes',
      'GET /vN/storage_boxes/N',
      'POST /vN/storage_boxes/N/actions/update_access_settings',
      'GET /vN/storage_boxes/actions/N',
    ]),
  )
  const config = configOf(s)
  expect(config.registry).toEqual({
    password: box.password,
    storagebox_host: box.server,
    type: 'storagebox',
    url: `${apache.origin}/morpheus/registry.json`,
    username: box.username,
  })
  expect(statSync(join(s.dir, 'config.yaml')).mode & 0o777).toBe(0o600)
  const stored = JSON.parse(readFileSync(join(apache.root, 'morpheus', 'registry.json'), 'utf8'))
  expect(stored).toEqual(expect.objectContaining({forests: {}, nodes: {}, version: 1}))
  expect(JSON.stringify(stored)).not.toContain(box.password)
  expectNoSecret(r.stdout + r.stderr)

  // The nodes' own account: a read-only, SMB-only sub-account whose home is the registry's folder,
  // its credentials in the registry's secret storage (not in the document, not in the config).
  const subs = [...api.subaccounts.values()].filter((x) => x.storage_box === box.id)
  expect(subs).toHaveLength(1)
  expect(subs[0]).toMatchObject({
    access_settings: {reachable_externally: false, readonly: true, samba_enabled: true, ssh_enabled: false, webdav_enabled: false},
    home_directory: 'morpheus',
    username: `${box.username}-sub1`,
  })
  expect(out.setup.node_account).toEqual({created: true, home_directory: 'morpheus', server: subs[0].server, username: subs[0].username})
  const kept = JSON.parse(readFileSync(join(apache.root, 'morpheus', 'registry.secrets.json'), 'utf8')).forests._registry
  expect(JSON.parse(kept.node_mount)).toEqual({password: subs[0].password, server: subs[0].server, username: subs[0].username})
  expect(subs[0].password).not.toBe(box.password)
  expect(readFileSync(join(s.dir, 'config.yaml'), 'utf8')).not.toContain(subs[0].password)
  expect(JSON.stringify(stored)).not.toContain(subs[0].password)
  expect(r.stdout + r.stderr).not.toContain(subs[0].password)

  // Idempotent: the box is found by name (its password reset, since it was not known here).
  const again = await s.run(newBoxArgs())
  expect(again.code).toBe(0)
  expect(JSON.parse(again.stdout)).toEqual(
    expect.objectContaining({created: false, setup: expect.objectContaining({box: expect.objectContaining({existed: true})})}),
  )
  expect([...api.boxes.values()].filter((b) => b.name === 'morpheus-e2e')).toHaveLength(1)
  expect(configOf(s).registry.password).toBe([...api.boxes.values()].find((b) => b.name === 'morpheus-e2e')!.password)
  expect(api.problems).toEqual([])
  expectNoSecret(again.stdout + again.stderr)
  // The node account is found again (by its labels and home), its password reset and kept anew.
  const after = [...api.subaccounts.values()].filter((x) => x.storage_box === box.id)
  expect(after).toHaveLength(1)
  expect(JSON.parse(again.stdout).setup.node_account).toMatchObject({created: true, username: subs[0].username})
  const keptAgain = JSON.parse(
    JSON.parse(readFileSync(join(apache.root, 'morpheus', 'registry.secrets.json'), 'utf8')).forests._registry.node_mount,
  )
  expect(keptAgain.password).toBe(after[0].password)
  expect(after[0].access_settings.readonly).toBe(true)
}, 240_000) // many CLI runs: generous for a loaded machine

test('existing box: the config keeps the ${ENV} reference, never the password; init --yes creates a missing document', async () => {
  const s = sandbox()
  const url = `${apache.origin}/existing/registry.json`
  const r = await s.run(
    ['registry', 'init', '--setup', 'existing-box', '--url', url, '--username', apache.username, '--password-env', 'SB_PASSWORD', '--json'],
    {env: {SB_PASSWORD: apache.password}},
  )
  expect(r.code).toBe(0)
  expect(JSON.parse(r.stdout)).toEqual(expect.objectContaining({created: true, location: url}))
  const text = readFileSync(join(s.dir, 'config.yaml'), 'utf8')
  expect(text).not.toContain(apache.password)
  expect(configOf(s).registry).toEqual({
    password: '${SB_PASSWORD}',
    storagebox_host: apache.host,
    type: 'storagebox',
    url,
    username: apache.username,
  })
  expectNoSecret(r.stdout + r.stderr)
  // A WebDAV server the API does not know: no node account, and it says how to make one by hand.
  const account = JSON.parse(r.stdout).setup.node_account
  expect(account.created).toBe(false)
  expect(account.reason).toMatch(/no Storage Box with the user morpheus/)
  expect(account.hint).toMatch(/read-only/)
  expect(account.hint).toContain('registry.node_username')
  expect(account.hint).toContain('"existing"')
  expect(
    JSON.parse(r.stdout)
      .warnings.map((w: {message: string}) => w.message)
      .join('\n'),
  ).toMatch(/No read-only account for the nodes was made/)
  expect(existsSync(join(apache.root, 'existing', 'registry.secrets.json'))).toBe(false)

  unlinkSync(join(apache.root, 'existing', 'registry.json'))
  const yes = await s.run(['registry', 'init', '--yes', '--json'], {env: {SB_PASSWORD: apache.password}})
  expect(yes.code).toBe(0)
  expect(JSON.parse(yes.stdout)).toEqual(expect.objectContaining({created: true, probe: expect.objectContaining({concurrency: 'lock'})}))
  expect(existsSync(join(apache.root, 'existing', 'registry.json'))).toBe(true)
  const found = await s.json(['registry', 'init', '--yes'], {env: {SB_PASSWORD: apache.password}})
  expect(found.created).toBe(false)
}, 240_000) // many CLI runs: generous for a loaded machine

test('a wrong password: exit 4 naming the URL, and the config is left as it was', async () => {
  const s = sandbox('forest:\n  parallel: 3\n')
  const before = readFileSync(join(s.dir, 'config.yaml'), 'utf8')
  const url = `${apache.origin}/wrong/registry.json`
  const r = await s.run(
    ['registry', 'init', '--setup', 'existing-box', '--url', url, '--username', apache.username, '--password-env', 'SB_PASSWORD'],
    {env: {SB_PASSWORD: 'not-the-password-1'}},
  )
  expect(r.code).toBe(4)
  expect(r.stderr).toContain(`${apache.origin}/wrong/`)
  expect(r.stderr).toMatch(/401/)
  expect(r.stderr).toMatch(/Hint: .*registry.password/)
  expect(r.stderr + r.stdout).not.toContain('not-the-password-1')
  expect(readFileSync(join(s.dir, 'config.yaml'), 'utf8')).toBe(before)
}, 240_000) // many CLI runs: generous for a loaded machine

test('without a terminal every choice comes from flags: missing ones are named; a bad token is a config error', async () => {
  const s = sandbox()
  const r = await s.run(['registry', 'init', '--setup', 'existing-box'])
  expect(r.code).toBe(2)
  expect(r.stderr).toMatch(/--url is required without a terminal/)
  const badToken = await s.run(['registry', 'init', '--setup', 'new-box', '--box-name', 'never-made', '--webdav-origin', apache.origin], {
    env: {HETZNER_API_TOKEN: 'wrong-token'},
  })
  expect(badToken.code).toBe(3)
  expect(badToken.stderr).toMatch(/refused the token/)
  expect(badToken.stderr).toMatch(/HETZNER_API_TOKEN/)
  expect([...api.boxes.values()].some((b) => b.name === 'never-made')).toBe(false)
  const local = await s.json(['registry', 'init', '--setup', 'local'])
  expect(local).toEqual(expect.objectContaining({created: true, location: s.registryPath}))
  expect(configOf(s).registry).toEqual({type: 'none'})
}, 240_000) // many CLI runs: generous for a loaded machine

test('plant cloud with no registry configured: without a terminal exit 3 naming the commands; on one the set-up runs first (an existing box, typed in at the prompts)', async () => {
  // HCLOUD_ENDPOINT points at a closed loopback port: after the set-up, the plant itself stops at the provider.
  // HCLOUD_TOKEN is the Hetzner token for registry init too (one precedence), so its Storage Box API is the simulator.
  const s = new Sandbox('infrastructure:\n  provider: hetzner\n', {
    HCLOUD_ENDPOINT: 'http://127.0.0.1:9',
    HCLOUD_TOKEN: 'not-a-real-token-for-this-test',
    HETZNER_ENDPOINT: api.endpoint,
  })
  sandboxes.push(s)
  const r = await s.run(['plant', 'cloud', 'small', '--yes'])
  expect(r.code).toBe(3)
  expect(r.stderr).toContain('no registry is configured')
  expect(r.stderr).toContain('`morpheus registry init --setup existing-box --url <url> --username <user> --password-env <VAR>`')
  expect(r.stderr).toContain('`morpheus registry init --setup local`')
  expect(configOf(s).registry).toBeUndefined()
  // A local forest lives on this device, and so may its registry file: no question for it.
  const local = await s.run(['plant', 'local', 'small', '--dry-run'])
  expect(local.code).toBe(0)

  const url = `${apache.origin}/typed/registry.json`
  const t = await onTerminal(
    s,
    ['plant', 'cloud', 'small'],
    [
      {type: '\u001b[B\r', when: 'Where should the registry live?'},
      {type: `${url}\r`, when: 'WebDAV URL of the registry document'},
      {type: `${apache.username}\r`, when: 'User name'},
      {type: `${apache.password}\r`, when: 'Password (kept'},
    ],
  )
  expect(t.out).toContain('No registry is configured')
  expect(t.out).toContain(`Created the registry at ${url} (writes: lock)`)
  expect(configOf(s).registry).toEqual({
    password: apache.password,
    storagebox_host: apache.host,
    type: 'storagebox',
    url,
    username: apache.username,
  })
  expect(statSync(join(s.dir, 'config.yaml')).mode & 0o777).toBe(0o600)
  expect(JSON.parse(readFileSync(join(apache.root, 'typed', 'registry.json'), 'utf8'))).toMatchObject({forests: {}, version: 1})
  // The plant went on with the new registry and stopped at the (unreachable) provider: exit 5, nothing recorded.
  expect(t.code).toBe(5)
  expect(t.out).not.toContain(apache.password)
}, 240_000)
