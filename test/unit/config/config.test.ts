import {chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {homedir, tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {
  configPath,
  displayValue,
  expandEnv,
  getKey,
  isSecretKey,
  loadConfig,
  parseCliValue,
  pluginSection,
  readRawConfig,
  resolveConfigPath,
  setKey,
  unsetKey,
  writeConfig,
} from '../../../src/config/config.js'
import {MorpheusError} from '../../../src/errors.js'

let dir: string
let file: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'morpheus-config-'))
  file = join(dir, 'config.yaml')
})
afterEach(() => rmSync(dir, {force: true, recursive: true}))

/** Write the config text and load it with exactly this environment. */
function load(text: string, env: NodeJS.ProcessEnv = {}) {
  writeFileSync(file, text)
  return loadConfig({MORPHEUS_CONFIG: file, ...env})
}

/** The MorpheusError a function throws (fails the test when it does not throw one). */
function thrown(fn: () => unknown): MorpheusError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(MorpheusError)
    return error as MorpheusError
  }
  throw new Error('expected an error, none was thrown')
}

describe('configPath', () => {
  test('MORPHEUS_CONFIG overrides the default, resolved to an absolute path', () => {
    expect(configPath({MORPHEUS_CONFIG: '/etc/m/c.yaml'})).toBe('/etc/m/c.yaml')
    expect(configPath({MORPHEUS_CONFIG: 'rel/c.yaml'})).toBe(resolve('rel/c.yaml'))
  })

  test('default is ~/.morpheus/config.yaml (an empty MORPHEUS_CONFIG does not count)', () => {
    expect(configPath({})).toBe(join(homedir(), '.morpheus', 'config.yaml'))
    expect(configPath({MORPHEUS_CONFIG: ''})).toBe(join(homedir(), '.morpheus', 'config.yaml'))
  })

  test('loadConfig reads the file MORPHEUS_CONFIG names', () => {
    const c = load('forest:\n  parallel: 2\n')
    expect(c.path).toBe(file)
    expect(c.dir).toBe(dir)
    expect(c.exists).toBe(true)
    expect((c.values.forest as any).parallel).toBe(2)
  })
})

describe('environment expansion', () => {
  test('${VAR} and ${VAR:-default} expand, in nested maps and lists', () => {
    // Every eager core section is typed now (growth, integration, templates): string keys show the
    // expansion at load; expandEnv shows it through nested maps and lists.
    const c = load(
      [
        'infrastructure:',
        '  provider: ${PROVIDER}',
        'integration:',
        '  nimsforest_download_url: pre-${A}-${B:-b}-post',
        '  nats_version: ${UNSET_ONE:-fallback}',
        'templates:',
        '  dir: ${HOST}/x',
      ].join('\n'),
      {A: 'a', HOST: 'https://h', PROVIDER: 'local'},
    )
    expect((c.values.integration as any).nimsforest_download_url).toBe('pre-a-b-post')
    expect((c.values.integration as any).nats_version).toBe('fallback')
    expect((c.values.templates as any).dir).toBe('https://h/x')
    expect((c.values.infrastructure as any).provider).toBe('local')
    // raw is the file as written, unexpanded
    expect((c.raw.integration as any).nimsforest_download_url).toBe('pre-${A}-${B:-b}-post')
    const section = {
      both: 'pre-${A}-${B:-b}-post',
      deep: {deeper: '${A}'},
      other: '${UNSET_ONE:-fallback}',
      token: '${HCLOUD_TOKEN}',
      urls: ['${HOST}/x', '${NOPE:-none}'],
    }
    expect(expandEnv(section, file, {A: 'a', HCLOUD_TOKEN: 'tok123', HOST: 'https://h'}, 'x')).toEqual({
      both: 'pre-a-b-post',
      deep: {deeper: 'a'},
      other: 'fallback',
      token: 'tok123',
      urls: ['https://h/x', 'none'],
    })
  })

  test('plugin sections and secrets are expanded when used (pluginSection), not at load', () => {
    const c = load('registry:\n  type: none\n  path: ${REG_DIR}/r.json\nsecrets:\n  a: ${NOT_SET_YET}\n', {})
    expect((c.values.registry as any).path).toBe('${REG_DIR}/r.json')
    const schema = {path: {description: '', type: 'string' as const}}
    expect(pluginSection(c, 'registry', schema, c.raw.registry as Record<string, unknown>, ['type'], {REG_DIR: '/srv'})).toEqual({
      path: '/srv/r.json',
      type: 'none',
    })
    const e = thrown(() => pluginSection(c, 'registry', schema, c.raw.registry as Record<string, unknown>, ['type'], {}))
    expect(e.message).toContain(file)
    expect(e.message).toContain('registry.path refers to ${REG_DIR}')
  })

  test('a set variable wins over the default; an empty one falls back to it', () => {
    expect(expandEnv('${X:-d}', file, {X: 'set'})).toBe('set')
    expect(expandEnv('${X:-d}', file, {X: ''})).toBe('d')
    expect(expandEnv('${X:-}', file, {})).toBe('')
  })

  test('$${ is a literal ${ and is not expanded', () => {
    expect(expandEnv('$${HOME}', file, {HOME: '/h'})).toBe('${HOME}')
    expect(expandEnv('a$${X}b${X}', file, {X: '1'})).toBe('a${X}b1')
    const c = load('templates:\n  dir: "$${NOT_EXPANDED}"\n', {})
    expect((c.values.templates as any).dir).toBe('${NOT_EXPANDED}')
  })

  test('non-strings pass through untouched', () => {
    expect(expandEnv(3, file, {})).toBe(3)
    expect(expandEnv(true, file, {})).toBe(true)
    expect(expandEnv(null, file, {})).toBeNull()
  })

  test('a missing variable names the key and the file, and never the value of other secrets', () => {
    writeFileSync(file, 'integration:\n  nats_version: ${KNOWN_SECRET}\n  nimsforest_download_url: ${MISSING_VAR}\n')
    const e = thrown(() => loadConfig({KNOWN_SECRET: 's3cr3t-value-xyz', MORPHEUS_CONFIG: file}))
    expect(e.kind).toBe('CONFIG')
    expect(e.exitCode).toBe(3)
    expect(e.message).toContain(file)
    expect(e.message).toContain('integration.nimsforest_download_url')
    expect(e.message).toContain('${MISSING_VAR}')
    expect(e.message).not.toContain('s3cr3t-value-xyz')
    expect(e.hint ?? '').not.toContain('s3cr3t-value-xyz')
    expect(e.hint).toContain('MISSING_VAR')
  })

  test('the same holds for a secrets section expanded on use', () => {
    const e = thrown(() =>
      expandEnv({known: '${KNOWN_SECRET}', missing: '${MISSING_SECRET}'}, file, {KNOWN_SECRET: 's3cr3t-value-xyz'}, 'secrets'),
    )
    expect(e.message).toContain(file)
    expect(e.message).toContain('secrets.missing refers to ${MISSING_SECRET}')
    expect(`${e.message} ${e.hint}`).not.toContain('s3cr3t-value-xyz')
  })

  test('a missing variable inside a list is located by index', () => {
    const e = thrown(() => expandEnv({urls: ['ok', '${GONE}']}, file, {}, 'providers.x'))
    expect(e.message).toContain(file)
    expect(e.message).toContain('providers.x.urls[1]')
  })

  test('expansion happens before validation: an expanded number string is still a string', () => {
    writeFileSync(file, 'forest:\n  parallel: ${PAR}\n')
    const e = thrown(() => loadConfig({MORPHEUS_CONFIG: file, PAR: '4'}))
    expect(e.message).toContain('forest.parallel must be')
  })
})

describe('validation', () => {
  test('a wrong type names the dotted key and the file', () => {
    writeFileSync(file, 'forest:\n  sizes:\n    small: one\n')
    const e = thrown(() => loadConfig({MORPHEUS_CONFIG: file}))
    expect(e.kind).toBe('CONFIG')
    expect(e.message).toContain(file)
    expect(e.message).toMatch(/forest\.sizes\.small must be an? integer, got string "one"/)
  })

  test('a value below the minimum names the key and the file', () => {
    writeFileSync(file, 'forest:\n  form_timeout_seconds: -1\n')
    const e = thrown(() => loadConfig({MORPHEUS_CONFIG: file}))
    expect(e.message).toContain(file)
    expect(e.message).toContain('forest.form_timeout_seconds must be at least 1, got -1')
  })

  test('non-integers, enums, ports and every problem at once', () => {
    writeFileSync(file, 'forest:\n  parallel: 1.5\n  nats_mode: sidecar\n  ports:\n    client: 70000\ninfrastructure:\n  provider: 7\n')
    const e = thrown(() => loadConfig({MORPHEUS_CONFIG: file}))
    expect(e.message).toContain('has 4 errors')
    expect(e.message).toContain('forest.parallel must be an integer')
    expect(e.message).toContain('forest.nats_mode must be one of system, embedded, got "sidecar"')
    expect(e.message).toContain('forest.ports.client must be at most 65535, got 70000')
    expect(e.message).toContain('infrastructure.provider must be a string')
  })

  test('an unknown key says "did you mean"', () => {
    writeFileSync(file, 'forest:\n  parallell: 3\n')
    const e = thrown(() => loadConfig({MORPHEUS_CONFIG: file}))
    expect(e.message).toContain('forest.parallell is not a known key (did you mean "parallel"?)')
    writeFileSync(file, 'registri:\n  type: none\n')
    expect(thrown(() => loadConfig({MORPHEUS_CONFIG: file})).message).toContain('registri is not a known key (did you mean "registry"?)')
  })

  test('an unknown key far from every known one gets no suggestion', () => {
    writeFileSync(file, 'zzzzzzzzzzzz: 1\n')
    const e = thrown(() => loadConfig({MORPHEUS_CONFIG: file}))
    expect(e.message).toContain('zzzzzzzzzzzz is not a known key')
    expect(e.message).not.toContain('did you mean')
  })

  test('invalid YAML names the file once and the line; the hint does not send the user to a command that fails the same way', () => {
    writeFileSync(file, 'forest:\n  parallel: 2\n  sizes: {small: 1\n  form_timeout_seconds: 5\n')
    const e = thrown(() => loadConfig({MORPHEUS_CONFIG: file}))
    expect(e.kind).toBe('CONFIG')
    expect(e.message.startsWith(`${file}: not valid YAML: `)).toBe(true)
    expect(e.message.split(file).length - 1).toBe(1)
    expect(e.message).toMatch(/\(line \d+, column \d+\)$/)
    expect(e.message).not.toContain('\n')
    expect(e.hint).toMatch(/^Fix line \d+ /)
    expect(e.hint).toContain(`mv ${file} ${file}.broken`)
    expect(e.hint).not.toContain('config list')
  })

  test('a file that is not a mapping is refused', () => {
    for (const text of ['- a\n- b\n', 'just a string\n', '42\n']) {
      writeFileSync(file, text)
      const e = thrown(() => loadConfig({MORPHEUS_CONFIG: file}))
      expect(e.message).toMatch(
        new RegExp(
          `^${file.replaceAll('.', '\\.')}: must be a YAML mapping of keys to values \\(e\\.g\\. "forest:" .*\\), not a (list|single string|single number)$`,
        ),
      )
      expect(e.hint).not.toContain('config list')
    }
  })

  test('an unreadable path (a directory) is a FILESYSTEM error (exit 10) naming it, with what to do', () => {
    const e = thrown(() => loadConfig({MORPHEUS_CONFIG: dir}))
    expect(e.kind).toBe('FILESYSTEM')
    expect(e.exitCode).toBe(10)
    expect(e.message).toBe(`cannot read the config file ${dir}: it is a directory (EISDIR)`)
    expect(e.hint).toBe(`${dir} is a directory where a file is expected: move it away, or point MORPHEUS_CONFIG at another file.`)
  })

  test('a config whose directory is a file does not exist yet; writing it is a FILESYSTEM error naming the file in the way (also as root)', () => {
    const blocker = join(dir, 'not-a-dir')
    writeFileSync(blocker, 'x')
    const path = join(blocker, 'config.yaml')
    expect(readRawConfig(path)).toEqual({exists: false, raw: {}})
    const e = thrown(() => writeConfig(path, {forest: {parallel: 2}}))
    expect(e.kind).toBe('FILESYSTEM')
    expect(e.message).toBe(`cannot create the directory of the config file ${path}: a file is there, not a directory (EEXIST)`)
    expect(e.hint).toBe(
      `${blocker} is a file where a directory is expected: move it away, or point MORPHEUS_CONFIG at a file in a writable directory.`,
    )
  })

  test('a config file in a directory nobody may write (under /sys, also for root) is a FILESYSTEM error, and no temporary file is left', () => {
    const path = `/sys/morpheus-test-${process.pid}.yaml`
    const e = thrown(() => writeConfig(path, {forest: {parallel: 2}}))
    expect(e.kind).toBe('FILESYSTEM')
    expect(e.message).toBe(`cannot write the config file ${path}: permission denied (EACCES)`)
    expect(e.hint).toMatch(
      /^Make \/sys writable for .+ \(see `ls -ld \/sys`\), or point MORPHEUS_CONFIG at a file in a writable directory\.$/,
    )
    expect(existsSync(path)).toBe(false)
  })

  test('null values count as "not set" and get the default', () => {
    const c = load('forest:\n  parallel: null\n  form_timeout_seconds: ~\n')
    expect((c.values.forest as any).parallel).toBe(5)
    expect((c.values.forest as any).form_timeout_seconds).toBe(60)
  })
})

describe('defaults', () => {
  const expected = {
    form_timeout_seconds: 60,
    nats_mode: 'system',
    parallel: 5,
    ports: {client: 4222, cluster: 6222, monitor: 8222},
    sizes: {large: 5, medium: 3, small: 1},
  }

  test('a missing file loads as all defaults', () => {
    const c = loadConfig({MORPHEUS_CONFIG: join(dir, 'nope', 'config.yaml')})
    expect(c.exists).toBe(false)
    expect(c.raw).toEqual({})
    expect(c.values.forest).toEqual(expected)
    expect(c.values.infrastructure).toEqual({provider: 'hetzner'})
  })

  test('an empty file exists and loads as all defaults', () => {
    const c = load('')
    expect(c.exists).toBe(true)
    expect(c.values.forest).toEqual(expected)
  })

  test('set keys win; the rest keep their defaults', () => {
    const c = load('forest:\n  ports:\n    client: 14222\n  nats_mode: embedded\n')
    const forest = c.values.forest as any
    expect(forest.ports).toEqual({client: 14222, cluster: 6222, monitor: 8222})
    expect(forest.nats_mode).toBe('embedded')
    expect(forest.parallel).toBe(5)
  })

  test('adding a size keeps the default sizes (as `config set forest.sizes.<name>` promises)', () => {
    const c = load('forest:\n  sizes:\n    huge: 7\n    medium: 4\n')
    expect((c.values.forest as any).sizes).toEqual({huge: 7, large: 5, medium: 4, small: 1})
  })

  test('loading does not change raw', () => {
    const c = load('forest:\n  parallel: 2\n')
    expect(c.raw).toEqual({forest: {parallel: 2}})
  })
})

describe('readRawConfig', () => {
  test('returns the file as written without expanding', () => {
    writeFileSync(file, 'secrets:\n  a: ${NOT_SET_ANYWHERE}\n')
    expect(readRawConfig(file)).toEqual({exists: true, raw: {secrets: {a: '${NOT_SET_ANYWHERE}'}}})
    expect(readRawConfig(join(dir, 'missing.yaml'))).toEqual({exists: false, raw: {}})
  })
})

describe('writeConfig', () => {
  test('writes mode 0600, round-trips, and leaves no temporary file', () => {
    const target = join(dir, 'sub', 'config.yaml')
    writeConfig(target, {forest: {sizes: {small: 2}}, secrets: {a: '${A}'}})
    expect(statSync(target).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'sub')).mode & 0o777).toBe(0o700)
    expect(readRawConfig(target).raw).toEqual({forest: {sizes: {small: 2}}, secrets: {a: '${A}'}})
    expect(readdirSync(join(dir, 'sub'))).toEqual(['config.yaml'])
  })

  test('replaces the file by rename (a new inode) and tightens a loose mode', () => {
    writeFileSync(file, 'forest:\n  parallel: 1\n', {mode: 0o644})
    chmodSync(file, 0o644)
    const before = statSync(file).ino
    writeConfig(file, {forest: {parallel: 9}})
    expect(statSync(file).ino).not.toBe(before)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readFileSync(file, 'utf8')).toMatch(/^# Morpheus configuration/)
    expect(loadConfig({MORPHEUS_CONFIG: file}).values.forest).toMatchObject({parallel: 9})
    expect(readdirSync(dir)).toEqual(['config.yaml'])
  })

  test('writing over a stale temporary file of the same pid still works', () => {
    writeFileSync(`${file}.${process.pid}.tmp`, 'garbage', {mode: 0o644})
    writeConfig(file, {forest: {parallel: 3}})
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(existsSync(`${file}.${process.pid}.tmp`)).toBe(false)
    expect(readRawConfig(file).raw).toEqual({forest: {parallel: 3}})
  })
})

describe('getKey / setKey / unsetKey', () => {
  test('getKey walks dotted paths and stops at non-objects', () => {
    const obj = {a: {b: {c: 1}}, l: [1, 2], s: 'x'}
    expect(getKey(obj, 'a.b.c')).toBe(1)
    expect(getKey(obj, 'a.b')).toEqual({c: 1})
    expect(getKey(obj, 'a.x.c')).toBeUndefined()
    expect(getKey(obj, 's.length')).toBeUndefined()
    expect(getKey(obj, 'l.0')).toBeUndefined()
  })

  test('setKey creates intermediate maps and replaces scalars in the way', () => {
    const obj: Record<string, unknown> = {a: 'scalar'}
    setKey(obj, 'forest.sizes.small', 2)
    setKey(obj, 'a.b', true)
    setKey(obj, 'top', 'v')
    expect(obj).toEqual({a: {b: true}, forest: {sizes: {small: 2}}, top: 'v'})
    setKey(obj, 'forest.sizes.medium', 3)
    expect(obj.forest).toEqual({sizes: {medium: 3, small: 2}})
  })

  test('unsetKey removes the key and says whether it was there', () => {
    const obj: Record<string, unknown> = {forest: {sizes: {medium: 3, small: 1}}, top: 1}
    expect(unsetKey(obj, 'forest.sizes.medium')).toBe(true)
    expect(obj).toEqual({forest: {sizes: {small: 1}}, top: 1})
    expect(unsetKey(obj, 'forest.sizes.medium')).toBe(false)
    expect(unsetKey(obj, 'nope.deeper.key')).toBe(false)
    expect(unsetKey(obj, 'top')).toBe(true)
    expect(unsetKey(obj, 'top')).toBe(false)
    expect(unsetKey(obj, 'forest')).toBe(true)
    expect(obj).toEqual({})
  })

  test('unsetKey prunes the mappings it leaves empty, up to the top, and nothing else', () => {
    const obj: Record<string, unknown> = {forest: {parallel: 2, sizes: {huge: 9}}, growth: {x: {y: {z: 1}}}, keep: {}}
    expect(unsetKey(obj, 'forest.sizes.huge')).toBe(true)
    expect(obj).toEqual({forest: {parallel: 2}, growth: {x: {y: {z: 1}}}, keep: {}})
    expect(unsetKey(obj, 'growth.x.y.z')).toBe(true)
    expect(obj).toEqual({forest: {parallel: 2}, keep: {}})
    expect(unsetKey(obj, 'toString')).toBe(false)
  })

  test('unsetting a default-carrying key falls back to the default on load', () => {
    writeFileSync(file, 'forest:\n  sizes:\n    medium: 4\n    small: 2\n')
    const {raw} = readRawConfig(file)
    expect(unsetKey(raw, 'forest.sizes.medium')).toBe(true)
    writeConfig(file, raw)
    expect((loadConfig({MORPHEUS_CONFIG: file}).values.forest as any).sizes).toEqual({large: 5, medium: 3, small: 2})
  })
})

describe('displayValue and isSecretKey', () => {
  test('secrets.* are secret by schema; *password*, *token* and friends by name', () => {
    expect(isSecretKey('secrets.anything')).toBe(true)
    expect(isSecretKey('registry.password')).toBe(true)
    expect(isSecretKey('registry.db_password_file')).toBe(true)
    expect(isSecretKey('providers.hetzner.token')).toBe(true)
    expect(isSecretKey('providers.hetzner.API_TOKEN')).toBe(true)
    expect(isSecretKey('registry.secret_access_key')).toBe(true)
    expect(isSecretKey('forest.sizes.small')).toBe(false)
    expect(isSecretKey('registry.path')).toBe(false)
  })

  test('literal secrets are masked; ${ENV} references are shown', () => {
    expect(displayValue('secrets.hcloud', 'abc123')).toBe('********')
    expect(displayValue('secrets.hcloud', '${HCLOUD_TOKEN}')).toBe('${HCLOUD_TOKEN}')
    expect(displayValue('registry.password', 'hunter2')).toBe('********')
    expect(displayValue('providers.hetzner.token', '${T}')).toBe('${T}')
    expect(displayValue('providers.hetzner.token', 'prefix-${T}')).toBe('********')
    expect(displayValue('registry.path', 'registry.json')).toBe('registry.json')
    expect(displayValue('forest.sizes.small', 1)).toBe(1)
  })

  test('a literal default inside a reference is not shown (the variable name is)', () => {
    expect(displayValue('registry.password', '${PW:-hunter2}')).toBe('${PW:-********}')
    expect(displayValue('registry.password', '${PW:-}')).toBe('${PW:-}')
    expect(displayValue('registry.path', '${P:-/x}')).toBe('${P:-/x}')
  })

  test('a numeric literal secret is masked too', () => {
    expect(displayValue('registry.password', 123456)).toBe('********')
  })

  test('maps are masked key by key', () => {
    const config: Record<string, unknown> = {
      forest: {parallel: 5},
      registry: {password: 'pw', path: 'r.json', token: '${TOK}'},
      secrets: {a: 'literal', b: '${B}'},
    }
    // the way `config list` calls it: one top-level key at a time
    const shown = Object.fromEntries(Object.entries(config).map(([k, v]) => [k, displayValue(k, v)]))
    expect(shown).toEqual({
      forest: {parallel: 5},
      registry: {password: '********', path: 'r.json', token: '${TOK}'},
      secrets: {a: '********', b: '${B}'},
    })
    expect(displayValue('secrets', {x: 'lit'})).toEqual({x: '********'})
  })
})

describe('parseCliValue', () => {
  test('parses like YAML: numbers, booleans, null, lists, strings', () => {
    expect(parseCliValue('3')).toBe(3)
    expect(parseCliValue('2.5')).toBe(2.5)
    expect(parseCliValue('true')).toBe(true)
    expect(parseCliValue('false')).toBe(false)
    expect(parseCliValue('null')).toBeNull()
    expect(parseCliValue('[a, b]')).toEqual(['a', 'b'])
    expect(parseCliValue('hello world')).toBe('hello world')
    expect(parseCliValue('"3"')).toBe('3')
    expect(parseCliValue('${HCLOUD_TOKEN}')).toBe('${HCLOUD_TOKEN}')
  })

  test('empty text is an empty string; text YAML cannot parse stays as typed', () => {
    expect(parseCliValue('')).toBe('')
    expect(parseCliValue('[unclosed')).toBe('[unclosed')
    expect(parseCliValue('@at')).toBe('@at')
  })
})

describe('pluginSection and resolveConfigPath', () => {
  const schema = {
    lock_timeout_seconds: {default: 10, description: 'x', minimum: 1, type: 'integer' as const},
    path: {default: 'registry.json', description: 'x', type: 'string' as const},
  }

  test('validates against the plugin schema, naming prefix.key and the file', () => {
    const config = load('')
    const e = thrown(() => pluginSection(config, 'registry', schema, {lock_timeout_seconds: 'ten', type: 'none'}, ['type'], {}))
    expect(e.kind).toBe('CONFIG')
    expect(e.message).toContain(file)
    expect(e.message).toContain('registry.lock_timeout_seconds must be')
    const typo = thrown(() => pluginSection(config, 'registry', schema, {pth: 'x'}, [], {}))
    expect(typo.message).toContain('registry.pth is not a known key (did you mean "path"?)')
  })

  test('fills defaults and keeps ignored keys', () => {
    const config = load('')
    expect(pluginSection(config, 'registry', schema, {type: 'none'}, ['type'], {})).toEqual({
      lock_timeout_seconds: 10,
      path: 'registry.json',
      type: 'none',
    })
    expect(pluginSection(config, 'x', undefined, {a: 1}, [], {})).toEqual({a: 1})
  })

  test('resolveConfigPath: ~ is home, relative starts at the config directory', () => {
    const config = load('')
    expect(resolveConfigPath(config, '~')).toBe(homedir())
    expect(resolveConfigPath(config, '~/r.json')).toBe(join(homedir(), 'r.json'))
    expect(resolveConfigPath(config, 'r.json')).toBe(join(dir, 'r.json'))
    expect(resolveConfigPath(config, '/abs/r.json')).toBe('/abs/r.json')
  })
})
