import {readFileSync, writeFileSync, mkdirSync, chownSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {load} from 'js-yaml'

import {Sandbox} from '../helpers/cli.js'
import {freePort, startApache, type ApacheServer} from '../fixtures/webdav/apache.js'

// The registry commands on a real Apache mod_dav, run as the built CLI.
let apache: ApacheServer
const sandboxes: Sandbox[] = []
let folders = 0
beforeAll(async () => {
  apache = await startApache()
})
afterAll(async () => {
  for (const s of sandboxes) await s.cleanup()
  apache?.stop()
})

const forest = (id: string, extra: Record<string, unknown> = {}) => ({
  created_at: '2026-01-01T00:00:00.000Z',
  id,
  last_expansion: null,
  node_count: 1,
  provider: 'local',
  size: 'small',
  status: 'active',
  ...extra,
})
const node = (id: string, forestId: string, ip: string) => ({
  created_at: '2026-01-01T00:00:00.000Z',
  forest_id: forestId,
  id,
  ip,
  role: 'node',
  status: 'active',
})
const docText = (doc: Record<string, unknown>) =>
  JSON.stringify({forests: {}, nodes: {}, updated_at: '2026-01-01T00:00:00.000Z', version: 1, ...doc}, null, 2) + '\n'

/** A sandbox whose registry is a fresh folder on Apache; `put` writes the document on disk. */
function davSandbox(url?: string) {
  folders += 1
  const folder = `c${folders}`
  const docUrl = url ?? `${apache.origin}/${folder}/registry.json`
  const s = new Sandbox(`registry:\n  type: storagebox\n  url: ${docUrl}\n  username: ${apache.username}\n  password: \${SB_PASSWORD}\n`, {
    SB_PASSWORD: apache.password,
  })
  sandboxes.push(s)
  const dir = join(apache.root, folder)
  const put = (text: string) => {
    mkdirSync(dir, {recursive: true})
    writeFileSync(join(dir, 'registry.json'), text)
    const {uid, gid} = statSync(apache.root)
    chownSync(dir, uid, gid)
    chownSync(join(dir, 'registry.json'), uid, gid)
  }
  return {dir, put, s, url: docUrl}
}

function expectNoPassword(text: string) {
  expect(text).not.toContain(apache.password)
}

test('show masks anything secret-looking; verify passes a sound document and lists every problem of an unsound one', async () => {
  const {put, s} = davSandbox()
  put(docText({forests: {a: forest('a', {note: 'ok', route_password: 'leaked-value'})}, nodes: {a: [node('n1', 'a', '127.0.0.9')]}}))
  const shown = await s.json(['registry', 'show'])
  expect(shown.document.forests.a.route_password).toBe('********')
  expect(shown.document.forests.a.note).toBe('ok')
  const text = await s.run(['registry', 'show'])
  expect(text.stdout).not.toContain('leaked-value')
  const ok = await s.json(['registry', 'verify'])
  expect(ok).toEqual(expect.objectContaining({forest_count: 1, node_count: 1, ok: true, problems: []}))

  put(
    docText({
      forests: {a: forest('a'), b: forest('b'), c: forest('c')},
      nodes: {a: [node('n1', 'a', '127.0.0.9')], b: [node('n2', 'b', '127.0.0.9')], ghost: [node('n3', 'ghost', '127.0.0.10')]},
    }),
  )
  const bad = await s.runJson(['registry', 'verify'])
  expect(bad.code).toBe(4)
  const problems: string[] = bad.out.error.details.problems
  expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/nodes.ghost has no forest entry/)]))
  put(
    docText({
      forests: {a: forest('a'), b: forest('b'), c: forest('c')},
      nodes: {a: [node('n1', 'a', '127.0.0.9')], b: [node('n2', 'b', '127.0.0.9')]},
    }),
  )
  const dup = await s.runJson(['registry', 'verify'])
  expect(dup.code).toBe(4)
  expect(dup.out.error.details.problems).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/address 127.0.0.9 is used by both a\/n1 and b\/n2/),
      expect.stringMatching(/forest c is active but has no nodes/),
    ]),
  )
}, 240_000) // many CLI runs: generous for a loaded machine

test('a document that is not JSON, or fails the schema: exit 4 naming the URL, never overwritten', async () => {
  const {put, s, url, dir} = davSandbox()
  for (const body of ['{"version": 1, "forests": {', JSON.stringify({forests: [], nodes: {}, updated_at: 'x', version: 1})]) {
    put(body)
    for (const args of [['list'], ['registry', 'show'], ['plant', 'local', 'small'], ['registry', 'verify']]) {
      const r = await s.run(args)
      expect(r.code).toBe(4)
      expect(r.stderr).toContain(url)
      expect(r.stderr).toMatch(/Hint: /)
      expectNoPassword(r.stderr + r.stdout)
    }
    expect(readFileSync(join(dir, 'registry.json'), 'utf8')).toBe(body)
  }
}, 240_000) // many CLI runs: generous for a loaded machine

test('server down, 401, missing folder: the error names the URL, never the password, and says what to do', async () => {
  const port = await freePort('127.0.70.1')
  const down = davSandbox(`http://127.0.70.1:${port}/m/registry.json`)
  const r1 = await down.s.run(['list'])
  expect(r1.code).toBe(4)
  expect(r1.stderr).toContain(`http://127.0.70.1:${port}/m/registry.json`)
  expect(r1.stderr).toMatch(/connection refused[\s\S]*Hint: /)

  const wrong = davSandbox()
  const r2 = await wrong.s.run(['list'], {env: {SB_PASSWORD: 'wrong-password-xyz'}})
  expect(r2.code).toBe(4)
  expect(r2.stderr).toMatch(/401 Unauthorized/)
  expect(r2.stderr).toContain(wrong.url.replace('registry.json', ''))
  expect(r2.stderr).not.toContain('wrong-password-xyz')

  const missing = davSandbox()
  const r3 = await missing.s.run(['list'])
  expect(r3.code).toBe(6)
  expect(r3.stderr).toMatch(/does not exist[\s\S]*registry init --yes/)
  for (const r of [r1, r2, r3]) expectNoPassword(r.stdout + r.stderr)
  // registry init --yes creates the folder and the document; then list works.
  expect((await missing.s.json(['registry', 'init', '--yes'])).created).toBe(true)
  expect((await missing.s.json(['list'])).forests).toEqual([])
}, 240_000) // many CLI runs: generous for a loaded machine

test('migrate from a local file: copied, read back, config switched (keeping ${ENV}); a non-empty target needs --force; history and restore', async () => {
  folders += 1
  const url = `${apache.origin}/m${folders}/registry.json`
  const s = new Sandbox('registry:\n  type: none\n', {SB_PASSWORD: apache.password})
  sandboxes.push(s)
  writeFileSync(
    s.registryPath,
    docText({forests: {a: forest('a'), b: forest('b')}, nodes: {a: [node('n1', 'a', '127.0.0.9')], b: [node('n2', 'b', '127.0.0.8')]}}),
  )
  // Forest a has route credentials and a system-account user in the local registry's secrets file; they must travel with it.
  const auth = JSON.stringify({password: 'route-pw-a-5d1c9e', user: 'morpheus-route'})
  const admin = JSON.stringify({password: 'admin-pw-a-7e2f0b', user: 'morpheus-admin'})
  writeFileSync(s.registryPath.replace(/\.json$/, '.secrets.json'), JSON.stringify({a: {cluster_auth: auth, system_user: admin}}), {
    mode: 0o600,
  })
  const sets = ['--set', `url=${url}`, '--set', `username=${apache.username}`, '--set', 'password=${SB_PASSWORD}']
  const moved = await s.json(['registry', 'migrate', '--to', 'storagebox', ...sets])
  expect(moved).toEqual(
    expect.objectContaining({
      backend: 'storagebox',
      forest_count: 2,
      from: s.registryPath,
      node_count: 2,
      overwrote: false,
      secret_count: 2,
      switched: true,
      to: url,
    }),
  )
  const copiedSecrets = JSON.parse(readFileSync(join(apache.root, `m${folders}`, 'registry.secrets.json'), 'utf8'))
  expect(copiedSecrets.forests).toEqual({a: {cluster_auth: auth, system_user: admin}})
  expect(readFileSync(join(apache.root, `m${folders}`, 'registry.json'), 'utf8')).not.toContain('route-pw-a-5d1c9e')
  expect(readFileSync(join(apache.root, `m${folders}`, 'registry.json'), 'utf8')).not.toContain('admin-pw-a-7e2f0b')
  const config = load(readFileSync(join(s.dir, 'config.yaml'), 'utf8')) as any
  expect(config.registry).toEqual({password: '${SB_PASSWORD}', type: 'storagebox', url, username: apache.username})
  expect((await s.json(['list'])).forests.map((f: {id: string}) => f.id)).toEqual(['a', 'b'])

  // Back to a local file, then again to the (now non-empty) Storage Box folder.
  const back = await s.json(['registry', 'migrate', '--to', 'none', '--set', `path=${join(s.dir, 'second.json')}`])
  expect(back.forest_count).toBe(2)
  const refused = await s.run(['registry', 'migrate', '--to', 'storagebox', ...sets])
  expect(refused.code).toBe(4)
  expect(refused.stderr).toMatch(/already holds 2 forests and 2 nodes; refusing to overwrite/)
  expect(refused.stderr).toMatch(/--force/)
  writeFileSync(join(s.dir, 'second.json'), docText({forests: {c: forest('c')}, nodes: {c: [node('n3', 'c', '127.0.0.7')]}}))
  const forced = await s.json(['registry', 'migrate', '--to', 'storagebox', '--force', ...sets])
  expect(forced).toEqual(expect.objectContaining({forest_count: 1, overwrote: true}))
  expect((await s.json(['list'])).forests.map((f: {id: string}) => f.id)).toEqual(['c'])

  // The overwritten document (a, b) is in the history and can be restored.
  const history = await s.json(['registry', 'history'])
  expect(history.revisions.length).toBeGreaterThanOrEqual(1)
  const refusedRestore = await s.run(['registry', 'restore', history.revisions[0].revision])
  expect(refusedRestore.code).toBe(2)
  expect(refusedRestore.stderr).toMatch(
    /refusing to replace the registry at \S+ without confirmation: stdin is not a terminal\nHint: Pass --yes to confirm\./,
  )
  const restored = await s.json(['registry', 'restore', history.revisions[0].revision, '--yes'])
  expect(restored).toEqual(expect.objectContaining({forest_count: 2, node_count: 2}))
  expect((await s.json(['list'])).forests.map((f: {id: string}) => f.id)).toEqual(['a', 'b'])
  const missing = await s.run(['registry', 'restore', '20200101T000000000Z-000000000000', '--yes'])
  expect(missing.code).toBe(6)
  // And the document restored over (c) is kept too: restore is undoable.
  const after = await s.json(['registry', 'history'])
  expect(after.revisions.length).toBe(history.revisions.length + 1)
}, 240_000) // many CLI runs: generous for a loaded machine
