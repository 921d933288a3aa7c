import {MorpheusError} from '../../../src/errors.js'
import type {RegistryDocument} from '../../../src/plugin-api/index.js'
import {documentProblems, emptyDocument, findForest, forestNodes, parseDocument, serializeDocument} from '../../../src/registry/document.js'

const LOC = '/srv/morpheus/registry.json'

function validDoc(): RegistryDocument {
  return {
    forests: {
      'forest-1': {
        created_at: '2024-01-01T00:00:00.000Z',
        id: 'forest-1',
        last_expansion: null,
        node_count: 2,
        provider: 'local',
        size: 'small',
        status: 'active',
      },
      'forest-2': {
        created_at: '2024-01-02T00:00:00.000Z',
        id: 'forest-2',
        last_expansion: '2024-01-03T00:00:00.000Z',
        node_count: 0,
        provider: 'hetzner',
        size: 'medium',
        status: 'planting',
      },
    },
    nodes: {
      'forest-1': [
        {created_at: '2024-01-01T00:00:00.000Z', forest_id: 'forest-1', id: 'node-1', ip: '127.0.1.1', role: 'nats', status: 'active'},
        {
          created_at: '2024-01-01T00:00:00.000Z',
          forest_id: 'forest-1',
          id: 'node-2',
          ip: '2001:db8::2',
          ipv6: '2001:db8::2',
          role: 'nats',
          status: 'starting',
        },
      ],
    },
    updated_at: '2024-01-03T00:00:00.000Z',
    version: 1,
  }
}

function corrupt(mutate: (doc: any) => void): string {
  const doc: any = validDoc()
  mutate(doc)
  return JSON.stringify(doc)
}

function parseError(body: string): MorpheusError {
  try {
    parseDocument(body, LOC)
  } catch (error) {
    expect(error).toBeInstanceOf(MorpheusError)
    return error as MorpheusError
  }
  throw new Error('parseDocument accepted a corrupt document')
}

describe('valid documents', () => {
  test('a full document and an empty one pass and round-trip', () => {
    expect(documentProblems(validDoc())).toEqual([])
    expect(parseDocument(serializeDocument(validDoc()), LOC)).toEqual(validDoc())
    const empty = emptyDocument(new Date('2024-05-06T07:08:09.000Z'))
    expect(empty).toEqual({forests: {}, nodes: {}, updated_at: '2024-05-06T07:08:09.000Z', version: 1})
    expect(parseDocument(serializeDocument(empty), LOC)).toEqual(empty)
  })

  test('serializeDocument is pretty JSON ending in a newline', () => {
    const text = serializeDocument(emptyDocument())
    expect(text.endsWith('}\n')).toBe(true)
    expect(text).toContain('\n  "forests"')
  })

  test('every forest and node status is accepted', () => {
    for (const status of ['planting', 'active', 'failed', 'interrupted', 'tearing_down']) {
      expect(documentProblems(JSON.parse(corrupt((d) => (d.forests['forest-1'].status = status))))).toEqual([])
    }
    for (const status of ['creating', 'starting', 'active', 'failed', 'deleting']) {
      expect(documentProblems(JSON.parse(corrupt((d) => (d.nodes['forest-1'][0].status = status))))).toEqual([])
    }
  })
})

describe('a document of a newer version', () => {
  test('is said to be written by a newer Morpheus (upgrade), not corrupt; verify says the same', () => {
    const body = JSON.stringify({...validDoc(), version: 2, forests_v2: {}})
    let error: MorpheusError | undefined
    try {
      parseDocument(body, LOC)
    } catch (e) {
      error = e as MorpheusError
    }
    expect(error?.kind).toBe('REGISTRY')
    expect(error?.message).toBe(`the registry at ${LOC} was written by a newer Morpheus (document version 2; this one reads version 1)`)
    expect(error?.message).not.toContain('corrupt')
    expect(error?.hint).toMatch(/^Upgrade Morpheus/)
    expect(documentProblems(JSON.parse(body))).toEqual([
      'version 2: written by a newer Morpheus (this one reads version 1); upgrade Morpheus',
    ])
  })
})

describe('corruption is reported with the location, as a REGISTRY error', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['bad JSON', '{"version": 1, "forests": {', /not valid JSON/],
    ['not an object', '[1, 2]', /the document must be a JSON object/],
    ['wrong version', corrupt((d) => (d.version = 0)), /version must be 1, found 0/],
    ['a version as a string', corrupt((d) => ((d as any).version = '2')), /version must be 1, found "2"/],
    ['missing version', corrupt((d) => delete d.version), /version must be 1, found undefined/],
    ['forests not an object', corrupt((d) => (d.forests = [])), /forests must be an object/],
    ['nodes not an object', corrupt((d) => (d.nodes = null)), /nodes must be an object/],
    ['missing updated_at', corrupt((d) => delete d.updated_at), /updated_at must be an ISO date/],
    [
      'node forest_id mismatch',
      corrupt((d) => (d.nodes['forest-1'][1].forest_id = 'forest-2')),
      /nodes\.forest-1\[1\]\.forest_id must be "forest-1"/,
    ],
    ['duplicate node ids', corrupt((d) => (d.nodes['forest-1'][1].id = 'node-1')), /nodes\.forest-1 lists node "node-1" twice/],
    [
      'bad node status',
      corrupt((d) => (d.nodes['forest-1'][0].status = 'running')),
      /nodes\.forest-1\[0\]\.status must be one of reserved, creating, starting, active, failed, deleting/,
    ],
    [
      'bad node ports',
      corrupt((d) => ((d.nodes['forest-1'][0] as any).ports = {client: 4222, cluster: 0, monitor: 8222})),
      /nodes\.forest-1\[0\]\.ports must have client, cluster and monitor ports/,
    ],
    [
      'bad forest operation',
      corrupt((d) => ((d.forests['forest-1'] as any).operation = {kind: 'dance', device: 'x', pid: 1, started_at: 'now'})),
      /forests\.forest-1\.operation must be null or/,
    ],
    [
      'bad forest status',
      corrupt((d) => (d.forests['forest-1'].status = 'ok')),
      /forests\.forest-1\.status must be one of planting, active/,
    ],
    ['nodes for a missing forest', corrupt((d) => (d.nodes['forest-9'] = [])), /nodes\.forest-9 has no forest entry/],
    ['nodes not a list', corrupt((d) => (d.nodes['forest-1'] = {})), /nodes\.forest-1 must be a list/],
    ['forest id differs from key', corrupt((d) => (d.forests['forest-1'].id = 'x')), /forests\.forest-1\.id must equal its key "forest-1"/],
    ['empty provider', corrupt((d) => (d.forests['forest-1'].provider = '')), /forests\.forest-1\.provider must be a non-empty string/],
    [
      'bad created_at',
      corrupt((d) => (d.forests['forest-1'].created_at = 'yesterday')),
      /forests\.forest-1\.created_at must be an ISO date/,
    ],
    ['bad last_expansion', corrupt((d) => (d.forests['forest-1'].last_expansion = 5)), /last_expansion must be null or an ISO date/],
    ['negative node_count', corrupt((d) => (d.forests['forest-1'].node_count = -1)), /node_count must be a non-negative integer/],
    ['fractional node_count', corrupt((d) => (d.forests['forest-1'].node_count = 1.5)), /node_count must be a non-negative integer/],
    ['forest not an object', corrupt((d) => (d.forests['forest-2'] = 'x')), /forests\.forest-2 must be an object/],
    ['node not an object', corrupt((d) => (d.nodes['forest-1'][0] = 7)), /nodes\.forest-1\[0\] must be an object/],
    ['node without id', corrupt((d) => (d.nodes['forest-1'][0].id = '')), /nodes\.forest-1\[0\]\.id must be a non-empty string/],
    ['node ip not a string', corrupt((d) => (d.nodes['forest-1'][0].ip = 127)), /nodes\.forest-1\[0\]\.ip must be a string/],
    ['node ipv4 not a string', corrupt((d) => (d.nodes['forest-1'][0].ipv4 = 1)), /nodes\.forest-1\[0\]\.ipv4 must be a string/],
  ]

  test.each(cases)('%s', (_name, body, pattern) => {
    const e = parseError(body)
    expect(e.kind).toBe('REGISTRY')
    expect(e.exitCode).toBe(4)
    expect(e.message).toContain(`the registry at ${LOC} is corrupt`)
    expect(e.message).toMatch(pattern)
    expect(e.hint).toContain('will not overwrite')
  })

  test('many problems are cut to five with a count of the rest', () => {
    const body = corrupt((d) => {
      for (let i = 0; i < 8; i++) d.nodes[`ghost-${i}`] = []
    })
    const e = parseError(body)
    expect(e.message).toContain('; and 3 more')
    expect(e.message.match(/has no forest entry/g)).toHaveLength(5)
  })

  test('documentProblems lists every problem, not just the first', () => {
    const doc: any = validDoc()
    doc.nodes['forest-1'][0].status = 'x'
    doc.nodes['forest-1'][1].forest_id = 'y'
    doc.forests['forest-2'].size = 3
    expect(documentProblems(doc)).toHaveLength(3)
  })
})

describe('lookups', () => {
  test('forestNodes returns the list, or an empty one', () => {
    const doc = validDoc()
    expect(forestNodes(doc, 'forest-1').map((n) => n.id)).toEqual(['node-1', 'node-2'])
    expect(forestNodes(doc, 'forest-2')).toEqual([])
  })

  test('findForest returns the record', () => {
    expect(findForest(validDoc(), 'forest-2').provider).toBe('hetzner')
  })

  test('findForest NOT_FOUND lists the known ids', () => {
    let error: unknown
    try {
      findForest(validDoc(), 'forest-404')
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(MorpheusError)
    const e = error as MorpheusError
    expect(e.kind).toBe('NOT_FOUND')
    expect(e.exitCode).toBe(6)
    expect(e.message).toContain('no forest "forest-404"')
    expect(e.hint).toBe('Known forests: forest-1, forest-2')
  })

  test('findForest in an empty registry says how to make one', () => {
    expect(() => findForest(emptyDocument(), 'x')).toThrow(MorpheusError)
    try {
      findForest(emptyDocument(), 'x')
    } catch (e) {
      expect((e as MorpheusError).hint).toContain('morpheus plant')
    }
  })
})
