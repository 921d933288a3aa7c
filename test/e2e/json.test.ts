import {chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {Sandbox} from '../helpers/cli.js'
import {manifestCommands, schemaFile, schemaFor, schemaProblems, SCHEMA_DIR} from '../helpers/json-schema.js'
import {startApache, type ApacheServer} from '../fixtures/webdav/apache.js'

// docs/json.md: every command answers --json with one envelope ({ok, warnings, ...} or {ok: false,
// warnings, error}) matching its JSON Schema in schemas/. This runs every command oclif.manifest.json
// lists, each at least once with success and once with an error, through the built CLI, and
// validates each answer with Ajv (Sandbox.runJson): a new command without a schema, or without a
// case here, fails the last test.

const seen = new Map<string, {ok: number; error: number}>()
const sandboxes: Sandbox[] = []
let apache: ApacheServer

beforeAll(async () => {
  apache = await startApache()
})
afterAll(async () => {
  for (const s of sandboxes) await s.cleanup()
  apache?.stop()
})

function sandbox(config?: string, env: NodeJS.ProcessEnv = {}): Sandbox {
  const s = new Sandbox(config, env)
  sandboxes.push(s)
  return s
}

/** `morpheus <args> --json`, validated against its schema; counted for the coverage check. `code`: the exit code expected. */
/** What the last check() printed on stderr. */
let lastStderr = ''

async function check(s: Sandbox, args: string[], code = 0, env: NodeJS.ProcessEnv = {}): Promise<any> {
  const r = await s.runJson(args, {env, timeoutMs: 120_000})
  lastStderr = r.stderr
  if (r.code !== code) throw new Error(`morpheus ${args.join(' ')} --json exited ${r.code}, expected ${code}\n${r.stdout}\n${r.stderr}`)
  const id = schemaFor(args)
    .replace(/\.json$/, '')
    .replaceAll('-', ':')
  const counts = seen.get(id) ?? {error: 0, ok: 0}
  if (r.out.ok) counts.ok++
  else counts.error++
  seen.set(id, counts)
  // Warnings travel in the envelope, not on stderr.
  expect(r.stderr).not.toMatch(/^warning: /m)
  return r.out
}

const forestRecord = (id: string, provider = 'local') => ({
  created_at: '2026-01-01T00:00:00.000Z',
  id,
  last_expansion: null,
  node_count: 1,
  provider,
  size: 'small',
  status: 'active',
})
const nodeRecord = (id: string, forestId: string, ip: string) => ({
  created_at: '2026-01-01T00:00:00.000Z',
  forest_id: forestId,
  id,
  ip,
  role: 'edge',
  status: 'active',
})
const docText = (doc: Record<string, unknown>) =>
  JSON.stringify({forests: {}, nodes: {}, updated_at: '2026-01-01T00:00:00.000Z', version: 1, ...doc}, null, 2) + '\n'

test('every command has a schema, and every schema a command', () => {
  const files = readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
  const expected = [...manifestCommands().map((id) => schemaFile(id)), 'common.json', 'oclif.json'].sort()
  expect(files).toEqual(expected)
})

test('the schemas are strict: wrong shapes fail', () => {
  const forest = {
    created_at: '2026-01-01T00:00:00.000Z',
    device: null,
    id: 'f',
    last_expansion: null,
    location: null,
    nats_mode: 'system',
    node_count: 1,
    note: null,
    operation: null,
    ports: null,
    provider: 'local',
    size: 'small',
    status: 'active',
    versions: null,
  }
  const listed = {...forest, active_nodes: 0, nodes: [], stale: false}
  expect(schemaProblems('list.json', {forests: [listed], ok: true, warnings: []})).toEqual([])
  // A count where a node array belongs, a field the forest object does not have, no warnings, ok with an error.
  expect(schemaProblems('list.json', {forests: [{...listed, nodes: 2}], ok: true, warnings: []})).not.toEqual([])
  expect(schemaProblems('list.json', {forests: [{...listed, forest_id: 'f'}], ok: true, warnings: []})).not.toEqual([])
  expect(schemaProblems('list.json', {forests: [listed], ok: true})).not.toEqual([])
  expect(schemaProblems('list.json', {error: {code: 'USAGE', exitCode: 2, message: 'x'}, ok: true, warnings: []})).not.toEqual([])
  // An error whose code and exit code disagree; a warning without a message.
  expect(schemaProblems('list.json', {error: {code: 'NOT_FOUND', exitCode: 2, message: 'x'}, ok: false, warnings: []})).not.toEqual([])
  expect(
    schemaProblems('list.json', {error: {code: 'NOT_FOUND', exitCode: 6, message: 'x'}, ok: false, warnings: [{code: 'X'}]}),
  ).not.toEqual([])
  expect(schemaProblems('list.json', {error: {code: 'NOT_FOUND', exitCode: 6, message: 'x'}, ok: false, warnings: []})).toEqual([])
  // teardown names its forest with the forest object, not an id.
  expect(
    schemaProblems('teardown.json', {entry_only: false, forest_id: 'f', ok: true, orphans_removed: [], removed: [], warnings: []}),
  ).not.toEqual([])
})

test('a local forest: plant, list, status, grow, teardown and the other commands answer in their schema, with one forest object everywhere', async () => {
  const s = sandbox()
  // config
  expect((await check(s, ['config', 'path'])).path).toBe(join(s.dir, 'config.yaml'))
  expect((await check(s, ['config', 'list'])).values.forest.sizes).toEqual({large: 5, medium: 3, small: 1})
  expect((await check(s, ['config', 'set', 'forest.sizes.medium', '3'])).value).toBe(3)
  expect((await check(s, ['config', 'get', 'forest.sizes.medium'])).value).toBe(3)
  expect((await check(s, ['config', 'unset', 'forest.sizes.medium'])).key).toBe('forest.sizes.medium')
  await check(s, ['config', 'path', '--bogus'], 2)
  await check(s, ['config', 'get'], 2)
  await check(s, ['config', 'set', 'forest.sizes.medium'], 2)
  await check(s, ['config', 'unset'], 2)

  // A runtime warning (naming a backend that is not installed) is in the envelope with --json, on stderr without.
  const warned = await check(s, ['config', 'set', 'registry.type', 'nosuch'])
  expect(warned.warnings).toEqual([{message: expect.stringContaining('no registry backend "nosuch" is installed yet')}])
  const text = await s.run(['config', 'set', 'registry.type', 'nosuch'])
  expect(text.code).toBe(0)
  expect(text.stderr).toContain('warning: no registry backend "nosuch" is installed yet')
  await check(s, ['config', 'unset', 'registry.type'])

  // plugins and the registry
  const providers = await check(s, ['providers'])
  expect(providers.providers.map((p: {name: string}) => p.name)).toEqual(expect.arrayContaining(['local', 'hetzner']))
  await check(s, ['providers', '--bogus'], 2)
  expect((await check(s, ['registry', 'backends'])).backends.find((b: {selected: boolean}) => b.selected).name).toBe('none')
  await check(s, ['registry', 'backends', '--bogus'], 2)
  expect((await check(s, ['registry', 'init', '--yes'])).created).toBe(true)
  await check(s, ['registry', 'init', '--bogus'], 2)
  expect(await check(s, ['registry', 'info'])).toMatchObject({backend: 'none', exists: true, forest_count: 0, node_count: 0})
  await check(s, ['registry', 'history'], 4) // a local file keeps no history
  await check(s, ['registry', 'restore', 'r1', '--yes'], 4)
  expect((await check(s, ['autocomplete:forests'])).forest_ids).toEqual([])

  // plant: an even node count warns, in the envelope; --nodes gives the size "custom".
  const dry = await check(s, ['plant', 'local', 'medium', '--dry-run'])
  expect(dry.nodes).toHaveLength(3)
  const planted = await check(s, ['plant', 'local', '--nodes', '2'])
  expect(planted.warnings).toEqual([{code: 'EVEN_NODE_COUNT', message: expect.stringContaining('2 nodes: JetStream needs a majority')}])
  expect(planted.forest).toMatchObject({node_count: 2, provider: 'local', size: 'custom', status: 'active'})
  const id = planted.forest.id
  const nodeIds = planted.nodes.map((n: {id: string}) => n.id)
  expect(nodeIds).toEqual(['node-1', 'node-2'])
  await check(s, ['plant', 'local', '--bogus'], 2)
  await check(s, ['plant', 'nosuch'], 2)

  const listed = await check(s, ['list'])
  expect(listed.forests).toHaveLength(1)
  const entry = listed.forests[0]
  expect(entry.nodes.map((n: {id: string}) => n.id)).toEqual(nodeIds)
  expect(entry.active_nodes).toBe(2)
  const status = await check(s, ['status', id])
  expect(status.health).toBe('healthy')
  expect(status.nodes.map((n: {id: string}) => n.id)).toEqual(nodeIds)
  await check(s, ['status', 'forest-nope'], 6)

  const one = await check(s, ['grow', id, '--auto', '--dry-run'])
  expect(one).toMatchObject({forest_id: id, metrics: {node_count: 2}, status: 'no_action'})
  const all = await check(s, ['grow', '--auto', '--dry-run'])
  expect(all.results.map((r: {forest_id: string}) => r.forest_id)).toEqual([id])
  expect((await check(s, ['grow', id])).status).toBe('no_action')
  await check(s, ['grow', 'forest-nope', '--auto'], 6)
  expect((await check(s, ['autocomplete:forests'])).forest_ids).toEqual([id])
  expect((await check(s, ['registry', 'show'])).document.forests[id].id).toBe(id)
  expect(await check(s, ['registry', 'verify'])).toMatchObject({forest_count: 1, node_count: 2, problems: []})

  // repair and upgrade of a healthy forest: nothing to do; refusals in the error envelope.
  expect(await check(s, ['repair', id, '--yes'])).toMatchObject({
    dead: [],
    forest_id: id,
    reason: 'nothing_to_repair',
    replaced: [],
    status: 'healthy',
  })
  expect((await check(s, ['repair', id, '--auto', '--dry-run'])).status).toBe('healthy')
  await check(s, ['repair', 'forest-nope', '--yes'], 6)
  await check(s, ['repair', id, '--bogus'], 2)
  const same = await check(s, ['upgrade', id, '--nats', planted.forest.versions.nats, '--yes'])
  expect(same).toMatchObject({forest_id: id, status: 'up_to_date', upgraded: []})
  expect(same.versions_by_node[`nats-server ${planted.forest.versions.nats} (${planted.forest.versions.nats_source})`]).toEqual(nodeIds)
  await check(s, ['upgrade', id], 2) // nothing named
  await check(s, ['upgrade', id, '--nats', '9.9.9', '--yes'], 5) // no such nats-server here
  // shrink: 2 → 1 node (the newest, named), then refused below one node.
  await check(s, ['shrink', 'forest-nope', '--yes'], 6)
  const shrunk = await check(s, ['shrink', id, '--yes'], 0, {MORPHEUS_DEBUG: '1'})
  expect(shrunk).toMatchObject({forest: {id, node_count: 1}, moved: [], picked: true, removed: {id: 'node-2'}, resumed: false})
  // MORPHEUS_DEBUG: the progress on stderr, timed, even with --json (stdout is the JSON document alone: runJson parsed it).
  expect(lastStderr).toMatch(/^\[\+\d+\.\ds\] Moving node-2's replicas to the other nodes\.\.\.$/m)
  expect(lastStderr).toMatch(/^\[\+\d+\.\ds\] {3}node-2: removing its machine$/m)
  expect(shrunk.nodes.map((n: {id: string}) => n.id)).toEqual(['node-1'])
  await check(s, ['shrink', id, '--yes'], 2)

  await check(s, ['teardown', id], 2) // no --yes without a terminal
  await check(s, ['teardown', 'forest-nope', '--yes'], 6)
  const down = await check(s, ['teardown', id, '--yes'])
  expect(down.removed).toEqual(['node-1'])

  // The same forest object, with the same fields, in plant, list, status, grow and teardown.
  const fields = Object.keys(planted.forest)
  for (const forest of [entry, status.forest, one.forest, down.forest]) {
    expect(Object.keys(forest).filter((k) => fields.includes(k))).toEqual(fields)
    expect(forest).toMatchObject({created_at: planted.forest.created_at, id, provider: 'local', size: 'custom'})
  }
  expect(Object.keys(status.forest)).toEqual(fields)
  expect(Object.keys(down.forest)).toEqual(fields)
  expect((await check(s, ['list'])).forests).toEqual([])
}, 600_000) // many CLI runs and a real two-node forest: generous for a loaded machine

test('grow --auto on a forest it cannot grow: the error envelope carries the result, and the exit code is its error', async () => {
  const s = sandbox()
  writeFileSync(
    s.registryPath,
    docText({forests: {ghost: forestRecord('ghost', 'nosuch')}, nodes: {ghost: [nodeRecord('node-1', 'ghost', '127.0.0.9')]}}),
  )
  const one = await check(s, ['grow', 'ghost', '--auto'], 2)
  expect(one).toMatchObject({error: {code: 'USAGE'}, forest: {id: 'ghost'}, forest_id: 'ghost', status: 'error'})
  const all = await check(s, ['grow', '--auto'], 2)
  expect(all.results).toEqual([expect.objectContaining({forest_id: 'ghost', status: 'error'})])
  expect(all.error.code).toBe('USAGE')
}, 120_000)

test('a broken config, a corrupt registry: error envelopes with their exit codes', async () => {
  const broken = sandbox()
  broken.writeRawConfig('forest: [unclosed\n')
  for (const args of [
    ['list'],
    ['status', 'x'],
    ['config', 'list'],
    ['autocomplete:forests'],
    ['autocomplete:complete', '--json', '--', 'status', ''],
  ])
    await check(broken, args, 3)

  const corrupt = sandbox()
  writeFileSync(corrupt.registryPath, '{"version": 1, "forests": {')
  const before = readFileSync(corrupt.registryPath, 'utf8')
  for (const args of [['list'], ['registry', 'show'], ['registry', 'info']]) await check(corrupt, args, 4)
  const verified = await check(corrupt, ['registry', 'verify'], 4)
  expect(verified.error.details.problems).toEqual([expect.stringContaining('not valid JSON')])
  expect(readFileSync(corrupt.registryPath, 'utf8')).toBe(before)
}, 180_000)

test('registry migrate, history and restore on a real WebDAV server (Apache mod_dav)', async () => {
  const folder = join(apache.root, 'json')
  mkdirSync(folder, {recursive: true})
  const {uid, gid} = statSync(apache.root)
  chownSync(folder, uid, gid)
  const url = `${apache.origin}/json/registry.json`
  const sets = ['--set', `url=${url}`, '--set', `username=${apache.username}`, '--set', 'password=${SB_PASSWORD}']
  const dav = sandbox(`registry:\n  type: storagebox\n  url: ${url}\n  username: ${apache.username}\n  password: \${SB_PASSWORD}\n`, {
    SB_PASSWORD: apache.password,
  })
  expect((await check(dav, ['registry', 'init', '--yes'])).created).toBe(true)

  const local = sandbox('registry:\n  type: none\n', {SB_PASSWORD: apache.password})
  writeFileSync(local.registryPath, docText({forests: {a: forestRecord('a')}, nodes: {a: [nodeRecord('n1', 'a', '127.0.0.9')]}}))
  await check(local, ['registry', 'migrate', '--to', 'nosuch'], 2)
  const moved = await check(local, ['registry', 'migrate', '--to', 'storagebox', '--force', '--no-switch', ...sets])
  expect(moved).toMatchObject({backend: 'storagebox', forest_count: 1, node_count: 1, overwrote: false, switched: false, to: url})

  const history = await check(dav, ['registry', 'history'])
  expect(history.revisions.length).toBeGreaterThanOrEqual(1)
  expect(await check(dav, ['registry', 'restore', history.revisions[0].revision, '--yes'])).toMatchObject({forest_count: 0, node_count: 0})
  await check(dav, ['registry', 'restore', '20200101T000000000Z-000000000000', '--yes'], 6)
  expect(existsSync(join(folder, 'registry.json'))).toBe(true)
}, 240_000)

test("oclif's own commands and unknown commands answer in JSON too", async () => {
  const s = sandbox()
  const plugins = await check(s, ['plugins'])
  expect(plugins.command).toBe('plugins')
  expect(plugins.plugins).toEqual(
    expect.arrayContaining([
      {name: '@oclif/plugin-plugins', type: 'core', version: expect.any(String)},
      {name: '@morpheus/provider-local', type: 'core', version: '0.1.0'},
    ]),
  )
  const uninstall = await check(s, ['plugins', 'uninstall', 'morpheus-no-such-plugin'], 2)
  expect(uninstall.error.message).toContain('morpheus-no-such-plugin')
  await check(s, ['plugins', 'install'], 2)
  // Morpheus's own completion commands, and version.
  const completion = await check(s, ['autocomplete', 'bash'])
  expect(completion).toMatchObject({setup: `[ -f '${completion.script}' ] && . '${completion.script}'`, shell: 'bash'})
  expect((await check(s, ['autocomplete', 'fish'], 2)).error.message).toContain('fish')
  const candidates = (await check(s, ['autocomplete:complete', '--json', '--', 'stat'])).candidates
  expect(candidates.map((c: any) => c.value)).toContain('status')
  const version = await check(s, ['version'])
  expect(version.user_agent).toContain(`morpheus/${version.version}`)
  expect((await check(s, ['version', '--bogus'], 2)).error.code).toBe('USAGE')
  expect((await check(s, ['help'])).output).toMatch(/USAGE\s+\$ morpheus/)

  for (const args of [['foo'], ['registry', 'nosuch'], []]) {
    const r = await s.runJson(args)
    expect(r.code).toBe(2)
    expect(r.out.error).toMatchObject({code: 'USAGE', exitCode: 2})
  }
  const text = await s.run(['foo'])
  expect(text.code).toBe(2)
  expect(text.stdout).toBe('')
  expect(text.stderr).toContain('"foo" is not a morpheus command')
}, 180_000)

test('every command was run here with success and with an error', () => {
  const missing = manifestCommands().filter((id) => !(seen.get(id)?.ok && seen.get(id)?.error))
  expect(missing).toEqual([])
})
