import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {homedir, tmpdir} from 'node:os'
import {join} from 'node:path'

import {createFileRegistry, FileRegistry} from '../src/file-registry.js'
import registries from '../src/hooks/registries.js'
import {pluginContext, rejection} from '../../../test/helpers/unit.js'
import {fromPluginError} from '../../../src/plugins/guard.js'

let dir: string
let path: string
let reg: FileRegistry

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'morpheus-filereg-'))
  path = join(dir, 'registry.json')
  reg = new FileRegistry(path, pluginContext(), 1000)
})
afterEach(() => rmSync(dir, {force: true, recursive: true}))

describe('FileRegistry', () => {
  test('reading a missing file gives null', async () => {
    expect(await reg.read()).toBeNull()
  })

  test('the revision is a content hash: same bytes same revision, new bytes new revision', async () => {
    writeFileSync(path, '{"a":1}')
    const r1 = (await reg.read())!
    expect(r1.body).toBe('{"a":1}')
    expect(r1.revision).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect((await reg.read())!.revision).toBe(r1.revision)
    writeFileSync(path, '{"a":2}')
    expect((await reg.read())!.revision).not.toBe(r1.revision)
    writeFileSync(path, '{"a":1}')
    expect((await reg.read())!.revision).toBe(r1.revision)
  })

  test('write returns the revision read() then reports', async () => {
    const {revision} = await reg.write('one', {ifAbsent: true})
    expect((await reg.read())!).toEqual({body: 'one', revision})
  })

  test('ifAbsent fails with CONFLICT when the file exists, and leaves it', async () => {
    writeFileSync(path, 'existing')
    const e = await rejection(reg.write('new', {ifAbsent: true}))
    expect(e.code).toBe('CONFLICT')
    expect(e.message).toContain(`${path} already exists`)
    expect(readFileSync(path, 'utf8')).toBe('existing')
  })

  test('ifRevision fails with CONFLICT on a stale revision or a missing file', async () => {
    const {revision} = await reg.write('v1', {ifAbsent: true})
    const {revision: r2} = await reg.write('v2', {ifRevision: revision})
    expect(r2).not.toBe(revision)
    const stale = await rejection(reg.write('v3', {ifRevision: revision}))
    expect(stale.code).toBe('CONFLICT')
    expect(stale.message).toContain('changed since it was read')
    expect(readFileSync(path, 'utf8')).toBe('v2')
    rmSync(path)
    expect((await rejection(reg.write('v4', {ifRevision: r2}))).code).toBe('CONFLICT')
  })

  test('writes create the directory, use mode 0600, and leave no lock or temporary file', async () => {
    const nested = join(dir, 'a', 'b', 'registry.json')
    const r = new FileRegistry(nested, pluginContext(), 1000)
    await r.write('x', {ifAbsent: true})
    expect(statSync(nested).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'a', 'b')).mode & 0o777).toBe(0o700)
    expect(readdirSync(join(dir, 'a', 'b'))).toEqual(['registry.json'])
  })

  test('a file that cannot be read is UNREACHABLE, naming it', async () => {
    mkdirSync(path)
    const e = await rejection(reg.read())
    expect(e.code).toBe('UNREACHABLE')
    expect(e.message).toContain(`cannot read ${path}`)
  })

  test('a lock that cannot be created names it, with the file-system error as the cause (also for root: the lock file name is too long)', async () => {
    // A 255-byte file name is allowed; the lock's name (".lock" appended) is not, whoever we are.
    const registry = join(dir, `${'x'.repeat(250)}.json`)
    const e = await rejection(new FileRegistry(registry, pluginContext(), 1000).write('x', {ifAbsent: true}))
    expect(e.message).toBe(`cannot create the lock file ${registry}.lock`)
    expect((e.cause as NodeJS.ErrnoException).code).toBe('ENAMETOOLONG')
    expect(e.hint).toContain('morpheus config set registry.path')
    // What the user sees: exit 10, the reason in words, the plugin's hint after the core's.
    const shown = fromPluginError(e, `registry ${registry}`, 'REGISTRY')
    expect(shown.exitCode).toBe(10)
    expect(shown.message).toBe(`registry ${registry}: cannot create the lock file ${registry}.lock: the name is too long (ENAMETOOLONG)`)
    expect(shown.hint).toContain('morpheus config set registry.path')
  })

  test('a registry whose directory is a file: reading finds no document; writing names the file in the way (also for root)', async () => {
    const blocker = join(dir, 'file')
    writeFileSync(blocker, 'x')
    const r = new FileRegistry(join(blocker, 'sub', 'registry.json'), pluginContext(), 1000)
    expect(await r.read()).toBeNull()
    const e = fromPluginError(await rejection(r.write('x', {ifAbsent: true})), 'registry r', 'REGISTRY')
    expect(e.kind).toBe('FILESYSTEM')
    expect(e.message).toBe(
      `registry r: cannot create the directory ${join(blocker, 'sub')} for the registry: a part of the path is not a directory (ENOTDIR)`,
    )
    expect(e.hint).toBe(
      `${blocker} is a file where a directory is expected: move it away. Or keep the registry elsewhere: \`morpheus config set registry.path <file in a writable directory>\`.`,
    )
    expect(readFileSync(blocker, 'utf8')).toBe('x')
  })

  test('probe reports compare-and-swap', async () => {
    expect((await reg.probe()).concurrency).toBe('compare-and-swap')
  })
})

describe('createFileRegistry and the hook', () => {
  test('path: relative to the config directory, ~ is home, absolute as is; default registry.json', () => {
    expect(createFileRegistry(pluginContext({}, dir)).location).toBe(join(dir, 'registry.json'))
    expect(createFileRegistry(pluginContext({path: 'sub/r.json'}, dir)).location).toBe(join(dir, 'sub', 'r.json'))
    expect(createFileRegistry(pluginContext({path: '~/r.json'}, dir)).location).toBe(join(homedir(), 'r.json'))
    expect(createFileRegistry(pluginContext({path: '/abs/r.json'}, dir)).location).toBe('/abs/r.json')
  })

  test('the hook describes backend "none" and loads the factory', async () => {
    const [descriptor] = await registries()
    expect(descriptor.name).toBe('none')
    expect(descriptor.apiVersion).toBe(2)
    expect(descriptor.configSchema?.path.default).toBe('registry.json')
    const factory = await descriptor.load()
    const backend = await factory(pluginContext({path: 'x.json'}, dir))
    expect(backend.location).toBe(join(dir, 'x.json'))
  })
})
