import {errorCode, ExitCode, MorpheusError} from '../../src/errors.js'
import {fromPluginError} from '../../src/plugins/guard.js'
import {readFileSync} from 'node:fs'

const pluginError = (code: string | undefined, message: string, hint?: string) => Object.assign(new Error(message), {code, hint})

describe('MorpheusError', () => {
  test('carries kind, exit code, hint, details and cause', () => {
    const cause = new Error('inner')
    const e = new MorpheusError('NOT_FORMED', 'no leader', {cause, details: {forest: 'f'}, hint: 'wait'})
    expect(e).toBeInstanceOf(Error)
    expect(e.name).toBe('MorpheusError')
    expect(e.kind).toBe('NOT_FORMED')
    expect(e.exitCode).toBe(7)
    expect(e.hint).toBe('wait')
    expect(e.details).toEqual({forest: 'f'})
    expect(e.cause).toBe(cause)
    expect('cause' in new MorpheusError('USAGE', 'x')).toBe(false)
  })

  test('exit codes are stable', () => {
    expect(ExitCode).toEqual({
      CONFIG: 3,
      FILESYSTEM: 10,
      INTERRUPTED: 130,
      NOT_FORMED: 7,
      NOT_FOUND: 6,
      OK: 0,
      OTHER_DEVICE: 9,
      PLUGIN: 8,
      PROVIDER: 5,
      REGISTRY: 4,
      UNEXPECTED: 1,
      USAGE: 2,
    })
  })
})

describe('fromPluginError', () => {
  test.each([
    ['AUTH', 'PROVIDER', 'PROVIDER', 5],
    ['AUTH', 'REGISTRY', 'REGISTRY', 4],
    ['UNREACHABLE', 'PROVIDER', 'PROVIDER', 5],
    ['UNREACHABLE', 'REGISTRY', 'REGISTRY', 4],
    ['UNSUPPORTED', 'REGISTRY', 'REGISTRY', 4],
    ['FAILED', 'PROVIDER', 'PROVIDER', 5],
    ['PREREQUISITE', 'REGISTRY', 'REGISTRY', 4],
    ['PREREQUISITE', 'PROVIDER', 'PROVIDER', 5],
    ['CONFLICT', 'PROVIDER', 'REGISTRY', 4],
    ['LOCKED', 'PLUGIN', 'REGISTRY', 4],
    ['NOT_FOUND', 'PROVIDER', 'NOT_FOUND', 6],
  ])('code %s from a %s plugin maps to %s (exit %d), naming the plugin and keeping the hint', (code, side, kind, exit) => {
    const original = pluginError(code, 'it broke', 'do this')
    const e = fromPluginError(original, 'provider hetzner', side as 'PROVIDER')
    expect(e).toBeInstanceOf(MorpheusError)
    expect(e.kind).toBe(kind)
    expect(e.exitCode).toBe(exit)
    expect(e.message).toBe('provider hetzner: it broke')
    expect(e.hint).toBe('do this')
    expect(e.cause).toBe(original)
  })

  test('an unknown or missing code uses the fallback', () => {
    expect(fromPluginError(pluginError('WEIRD', 'x'), 'p', 'PROVIDER').kind).toBe('PROVIDER')
    expect(fromPluginError(new Error('plain'), 'p', 'PLUGIN').kind).toBe('PLUGIN')
    expect(fromPluginError(new Error('plain'), 'p', 'PLUGIN').exitCode).toBe(8)
    expect(fromPluginError(new Error('plain'), 'p', 'PLUGIN').hint).toBeUndefined()
  })

  test('a code inherited from Object.prototype is not a mapping', () => {
    expect(fromPluginError(pluginError('toString', 'x'), 'p', 'PROVIDER').kind).toBe('PROVIDER')
    expect(fromPluginError(pluginError('constructor', 'x'), 'p', 'PROVIDER').exitCode).toBe(5)
  })

  test('a MorpheusError passes through untouched', () => {
    const original = new MorpheusError('CONFIG', 'bad config')
    expect(fromPluginError(original, 'p', 'PLUGIN')).toBe(original)
  })

  test('non-Error throws still become a message', () => {
    expect(fromPluginError('just a string', 'p', 'PLUGIN').message).toBe('p: just a string')
    expect(fromPluginError(undefined, 'p', 'PLUGIN').message).toBe('p: undefined')
    expect(fromPluginError(null, 'p', 'PLUGIN').message).toBe('p: null')
    expect(fromPluginError({code: 'CONFLICT', message: 'refused'}, 'p', 'PLUGIN').kind).toBe('REGISTRY')
  })
})

describe('errorCode', () => {
  test('reads a string code, nothing else', () => {
    expect(errorCode(pluginError('CONFLICT', 'x'))).toBe('CONFLICT')
    expect(errorCode({code: 5})).toBeUndefined()
    expect(errorCode(null)).toBeUndefined()
    expect(errorCode('x')).toBeUndefined()
  })
})

describe('src/errors.ts', () => {
  test('imports nothing: every module may import it, and it takes part in no cycle', () => {
    const source = readFileSync(new URL('../../src/errors.ts', import.meta.url), 'utf8')
    expect(source).toContain('export class MorpheusError')
    expect(source.match(/^\s*(import|export .* from)\b.*$/gm) ?? []).toEqual([])
  })
})
