import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {MorpheusError} from '../../src/errors.js'
import {fromPluginError} from '../../src/plugins/guard.js'
import {systemErrorOf, toFsError, withFs} from '../../src/fs-errors.js'
import {pluginError} from '../../src/plugins/errors.js'

/** The error a real file operation throws (these are real failures, for root as for anyone). */
function failure(fn: () => unknown): NodeJS.ErrnoException {
  try {
    fn()
  } catch (error) {
    return error as NodeJS.ErrnoException
  }
  throw new Error('the operation did not fail')
}

describe('file-system failures become FILESYSTEM errors (exit 10) with the path, the operation and what to do', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'morpheus-fs-'))
  })
  afterEach(() => rmSync(dir, {force: true, recursive: true}))

  test('a file where a directory belongs (ENOTDIR): the hint names that file', () => {
    writeFileSync(join(dir, 'home'), 'x')
    const path = join(dir, 'home', '.morpheus', 'config.yaml')
    const e = toFsError(
      failure(() => readFileSync(path)),
      {instead: 'point MORPHEUS_CONFIG elsewhere'},
    )!
    expect(e).toBeInstanceOf(MorpheusError)
    expect(e.kind).toBe('FILESYSTEM')
    expect(e.exitCode).toBe(10)
    expect(e.message).toBe(`cannot open ${path}: a part of the path is not a directory (ENOTDIR)`)
    expect(e.hint).toBe(`${join(dir, 'home')} is a file where a directory is expected: move it away, or point MORPHEUS_CONFIG elsewhere.`)
    expect(e.details).toEqual({code: 'ENOTDIR', operation: 'open', path})
  })

  test('mkdir where a file is (EEXIST) says so', () => {
    writeFileSync(join(dir, 'cache'), 'x')
    const e = toFsError(failure(() => mkdirSync(join(dir, 'cache'))))!
    expect(e.message).toBe(`cannot create the directory ${join(dir, 'cache')}: a file is there, not a directory (EEXIST)`)
    expect(e.hint).toContain(`${join(dir, 'cache')} is a file where a directory is expected`)
  })

  test('a directory where a file belongs (EISDIR)', () => {
    const e = toFsError(
      failure(() => readFileSync(dir)),
      {operation: 'read', path: dir, what: 'the config file'},
    )!
    expect(e.message).toBe(`cannot read the config file ${dir}: it is a directory (EISDIR)`)
    expect(e.hint).toBe(`${dir} is a directory where a file is expected: move it away.`)
  })

  test('permission denied (EACCES) and not permitted (EPERM): /sys refuses new files and directories, also to root', () => {
    const file = `/sys/morpheus-test-${process.pid}`
    const denied = toFsError(
      failure(() => writeFileSync(file, 'x')),
      {instead: 'set MORPHEUS_CACHE_DIR to a writable directory'},
    )!
    expect(denied.message).toBe(`cannot open ${file}: permission denied (EACCES)`)
    expect(denied.hint).toMatch(/^Make \/sys writable for .+ \(see `ls -ld \/sys`\), or set MORPHEUS_CACHE_DIR to a writable directory\.$/)
    const refused = failure(() => mkdirSync(`${file}-dir`))
    expect(['EPERM', 'EACCES']).toContain(refused.code)
    const e = toFsError(refused)!
    expect(e.message).toMatch(
      new RegExp(`^cannot create the directory ${file}-dir: (operation not permitted \\(EPERM\\)|permission denied \\(EACCES\\))$`),
    )
    expect(e.hint).toContain('ls -ld /sys')
  })

  test('a full disk (ENOSPC, a real one from /dev/full): the path the caller names, and where to free space', () => {
    const e = toFsError(
      failure(() => writeFileSync('/dev/full', 'x')),
      {operation: 'write', path: '/dev/full', what: 'the registry'},
    )!
    expect(e.message).toBe('cannot write the registry /dev/full: no space left on the device (ENOSPC)')
    expect(e.hint).toBe('Free some space on the file system that holds /dev (see `df -h /dev`).')
  })

  test('a read-only file system (EROFS) names the directory and the way out', () => {
    // No read-only mount is guaranteed on the test machine: the error Node gives for one.
    const erofs = Object.assign(new Error("EROFS: read-only file system, open '/ro/registry.json.lock'"), {
      code: 'EROFS',
      errno: -30,
      path: '/ro/registry.json.lock',
      syscall: 'open',
    })
    const e = toFsError(erofs, {
      instead: 'set registry.path to a writable place',
      operation: 'create the lock file',
      path: '/ro/registry.json.lock',
    })!
    expect(e.message).toBe('cannot create the lock file /ro/registry.json.lock: the file system is read-only (EROFS)')
    expect(e.hint).toBe('/ro is on a read-only file system: set registry.path to a writable place.')
  })

  test('the failing path is named when it is not the one the user knows (a temporary file elsewhere)', () => {
    writeFileSync(join(dir, 'file'), 'x')
    const e = toFsError(
      failure(() => mkdirSync(join(dir, 'file', 'sub'))),
      {operation: 'write', path: join(dir, 'config.yaml'), what: 'the config file'},
    )!
    expect(e.message).toBe(
      `cannot write the config file ${join(dir, 'config.yaml')}: a part of the path is not a directory (ENOTDIR) (at ${join(dir, 'file', 'sub')})`,
    )
  })

  test('paths under the cache or data dir point at MORPHEUS_CACHE_DIR / MORPHEUS_DATA_DIR', () => {
    const before = {cache: process.env.MORPHEUS_CACHE_DIR, data: process.env.MORPHEUS_DATA_DIR}
    process.env.MORPHEUS_CACHE_DIR = join(dir, 'file', 'cache')
    process.env.MORPHEUS_DATA_DIR = join(dir, 'file', 'data')
    try {
      writeFileSync(join(dir, 'file'), 'x')
      expect(toFsError(failure(() => mkdirSync(join(dir, 'file', 'cache', 'autocomplete'), {recursive: true})))!.hint).toContain(
        'or set MORPHEUS_CACHE_DIR to a writable directory',
      )
      expect(toFsError(failure(() => mkdirSync(join(dir, 'file', 'data'), {recursive: true})))!.hint).toContain(
        'or set MORPHEUS_DATA_DIR to a writable directory',
      )
    } finally {
      for (const [k, v] of [
        ['MORPHEUS_CACHE_DIR', before.cache],
        ['MORPHEUS_DATA_DIR', before.data],
      ] as const) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
    }
  })

  test('anything else is not a file-system error: no mapping', () => {
    expect(toFsError(new Error('boom'))).toBeUndefined()
    expect(toFsError(Object.assign(new Error('refused'), {code: 'ECONNREFUSED', syscall: 'connect'}))).toBeUndefined()
    expect(toFsError(new MorpheusError('CONFIG', 'x'))).toBeUndefined()
    const already = new MorpheusError('FILESYSTEM', 'x')
    expect(toFsError(already)).toBe(already)
    expect(systemErrorOf(undefined)).toBeUndefined()
  })

  test('withFs passes results and other errors through', () => {
    expect(withFs({}, () => 42)).toBe(42)
    const other = new Error('other')
    expect(() =>
      withFs({}, () => {
        throw other
      }),
    ).toThrow(other)
    expect(() => withFs({what: 'the cache'}, () => mkdirSync('/sys/morpheus-nope/x'))).toThrow(
      /^cannot create the directory the cache \/sys\/morpheus-nope/,
    )
  })

  test("a plugin's file-system failure, raw or wrapped as the cause, is exit 10 whatever the plugin's code, keeping its message and hint", () => {
    writeFileSync(join(dir, 'file'), 'x')
    const raw = failure(() => mkdirSync(join(dir, 'file', 'local'), {recursive: true}))
    const direct = fromPluginError(raw, 'provider local', 'PROVIDER')
    expect(direct.exitCode).toBe(10)
    expect(direct.message).toBe(
      `provider local: cannot create the directory ${join(dir, 'file', 'local')}: a part of the path is not a directory (ENOTDIR)`,
    )
    const wrapped = fromPluginError(
      pluginError('PREREQUISITE', `cannot create the nodes' directory ${join(dir, 'file', 'local')}`, 'Or set providers.local.data_dir.', {
        cause: raw,
      }),
      'provider local',
      'PROVIDER',
    )
    expect(wrapped.kind).toBe('FILESYSTEM')
    expect(wrapped.message).toBe(
      `provider local: cannot create the nodes' directory ${join(dir, 'file', 'local')}: a part of the path is not a directory (ENOTDIR)`,
    )
    expect(wrapped.hint).toBe(
      `${join(dir, 'file')} is a file where a directory is expected: move it away. Or set providers.local.data_dir.`,
    )
    // Not a file-system failure: the plugin's own code decides, as before.
    expect(fromPluginError(pluginError('PREREQUISITE', 'no token'), 'provider x', 'PROVIDER').exitCode).toBe(5)
  })
})
