import {MorpheusError} from '../../../src/errors.js'
import {asMorpheusError, errorEnvelope, kindOfExitCode, successEnvelope, wantsJson} from '../../../src/ui/json.js'
import {forestJson, nodeJson} from '../../../src/ui/json-shapes.js'
import {schemaProblems} from '../../helpers/json-schema.js'

test('the success envelope puts ok and warnings first and refuses a result that uses their names', () => {
  const out = successEnvelope({forests: []}, [{code: 'PLUGIN', message: 'm'}])
  expect(Object.keys(out)).toEqual(['ok', 'warnings', 'forests'])
  expect(out).toEqual({forests: [], ok: true, warnings: [{code: 'PLUGIN', message: 'm'}]})
  expect(() => successEnvelope({ok: 1} as never)).toThrow(/envelope's field ok/)
  expect(() => successEnvelope({warnings: []} as never)).toThrow(/warnings/)
})

test('the error envelope: the error kind and its exit code, hint and details only when set, a result beside it', () => {
  const e = new MorpheusError('NOT_FOUND', 'no forest "x"', {details: {forest_id: 'x'}, hint: 'See list.'})
  expect(errorEnvelope(e)).toEqual({
    error: {code: 'NOT_FOUND', details: {forest_id: 'x'}, exitCode: 6, hint: 'See list.', message: 'no forest "x"'},
    ok: false,
    warnings: [],
  })
  expect(errorEnvelope(new MorpheusError('USAGE', 'bad')).error).toEqual({code: 'USAGE', exitCode: 2, message: 'bad'})
  // A result's own error (grow) gives way to the envelope's.
  const withResult = errorEnvelope(e, [], {error: {code: 'OTHER'}, forest_id: 'x', status: 'error'})
  expect(withResult).toMatchObject({error: {code: 'NOT_FOUND'}, forest_id: 'x', ok: false, status: 'error'})
  expect(schemaProblems('status.json', errorEnvelope(e))).toEqual([])
})

test('oclif errors become usage errors; other exit codes keep their kind; anything else is unexpected', () => {
  const parse = Object.assign(new Error('Nonexistent flag: --bogus\nSee more help with --help'), {name: 'CLIError', oclif: {exit: 2}})
  expect(asMorpheusError(parse, 'plant')).toMatchObject({
    hint: 'See `morpheus plant --help`.',
    kind: 'USAGE',
    message: 'Nonexistent flag: --bogus',
  })
  expect(asMorpheusError(Object.assign(new Error('gone'), {oclif: {exit: 130}})).kind).toBe('INTERRUPTED')
  expect(asMorpheusError(new TypeError('x is undefined')).kind).toBe('UNEXPECTED')
  expect(asMorpheusError(Object.assign(new Error('quit'), {name: 'ExitPromptError'})).kind).toBe('INTERRUPTED')
  expect(kindOfExitCode(4)).toBe('REGISTRY')
  expect(kindOfExitCode(0)).toBe('UNEXPECTED')
  expect(kindOfExitCode(42)).toBe('UNEXPECTED')
})

test('--json counts only before a --', () => {
  expect(wantsJson(['list', '--json'])).toBe(true)
  expect(wantsJson(['list'])).toBe(false)
  expect(wantsJson(['x', '--', '--json'])).toBe(false)
  expect(wantsJson(['--json', '--', 'x'])).toBe(true)
})

test('forest and node objects: every field, null when unset, no claim token, nothing unknown', () => {
  const record = {
    created_at: '2026-01-01T00:00:00.000Z',
    extra: 'x',
    id: 'f',
    last_expansion: null,
    node_count: 1,
    operation: {device: 'd', kind: 'plant' as const, pid: 1, started_at: '2026-01-01T00:00:00.000Z', token: 'secret-ish'},
    provider: 'local',
    size: 'small',
    status: 'active' as const,
  }
  const f = forestJson(record)
  expect(f).toEqual({
    created_at: record.created_at,
    device: null,
    id: 'f',
    last_expansion: null,
    location: null,
    nats_mode: null,
    node_count: 1,
    note: null,
    operation: {device: 'd', kind: 'plant', pid: 1, started_at: '2026-01-01T00:00:00.000Z'},
    ports: null,
    provider: 'local',
    size: 'small',
    status: 'active',
    versions: null,
  })
  const n = nodeJson({created_at: 'now', forest_id: 'f', id: 'node-1', ip: '127.0.0.2', role: 'edge', status: 'active'})
  expect(
    Object.entries(n)
      .filter(([, v]) => v === null)
      .map(([k]) => k),
  ).toEqual(['ipv4', 'ipv6', 'probe_address', 'ports', 'provider_ref', 'memory_bytes', 'versions'])
  expect(schemaProblems('list.json', {forests: [{...f, active_nodes: 1, nodes: [n], stale: false}], ok: true, warnings: []})).toEqual([])
})
