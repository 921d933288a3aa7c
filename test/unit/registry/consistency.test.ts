import type {ForestRecord, NodeRecord, RegistryDocument} from '../../../src/plugin-api/index.js'
import {CONSISTENCY_HINT, consistencyProblems} from '../../../src/registry/consistency.js'
import {documentProblems} from '../../../src/registry/document.js'

const AT = '2026-01-01T00:00:00.000Z'

function forest(id: string, extra: Partial<ForestRecord> = {}): ForestRecord {
  return {
    created_at: AT,
    id,
    last_expansion: null,
    node_count: 3,
    operation: null,
    provider: 'local',
    size: 'medium',
    status: 'active',
    ...extra,
  }
}

function node(forestId: string, id: string, ip: string, extra: Partial<NodeRecord> = {}): NodeRecord {
  return {created_at: AT, forest_id: forestId, id, ip, role: 'node', status: 'active', ...extra}
}

/** `count` forests as plant leaves them: node-1..node-3 each (ids repeat across forests), addresses never. */
function planted(count: number, provider = 'local', device: string | null = 'device-a'): RegistryDocument {
  const doc: RegistryDocument = {forests: {}, nodes: {}, updated_at: AT, version: 1}
  for (let f = 0; f < count; f++) {
    const id = `forest-${1795476200 + f}`
    doc.forests[id] = forest(id, {provider, ...(device ? {device} : {}), ports: {client: 4222, cluster: 6222, monitor: 8222}})
    doc.nodes[id] = [1, 2, 3].map((n) =>
      node(id, `node-${n}`, provider === 'local' ? `127.0.0.${f * 3 + n + 1}` : `2001:db8:${f}::${n}`, {
        provider_ref: provider === 'local' ? `/home/u/.morpheus/local/${id}/node-${n}` : String(1000 + f * 3 + n),
      }),
    )
  }
  return doc
}

describe('registry consistency', () => {
  test.each([2, 5])('%i forests, each with node-1..node-3: sound (node ids are per forest)', (count) => {
    for (const doc of [planted(count), planted(count, 'hetzner', null)]) {
      expect(documentProblems(doc)).toEqual([])
      expect(consistencyProblems(doc)).toEqual({problems: [], warnings: []})
    }
  })

  test('local forests of two devices on the same loopback addresses are sound: each device has its own 127.0.0.0/8', () => {
    const doc = planted(2)
    const [a, b] = Object.keys(doc.forests)
    doc.forests[b].device = 'device-b'
    doc.nodes[b] = doc.nodes[a].map((n) => ({...n, forest_id: b, provider_ref: n.provider_ref!.replace(a, b)}))
    expect(consistencyProblems(doc).problems).toEqual([])
  })

  test('one address in forests of different providers is sound', () => {
    const doc = planted(2)
    const [a, b] = Object.keys(doc.forests)
    doc.forests[b].provider = 'other'
    doc.nodes[b][0].ip = doc.nodes[a][0].ip
    expect(consistencyProblems(doc).problems).toEqual([])
  })

  test('a private route address repeating in another forest is sound when the probe addresses differ', () => {
    const doc = planted(2, 'hetzner', null)
    const [a, b] = Object.keys(doc.forests)
    doc.nodes[a][0] = {...doc.nodes[a][0], ip: '10.0.0.2', probe_address: '2001:db8:a::1'}
    doc.nodes[b][0] = {...doc.nodes[b][0], ip: '10.0.0.2', probe_address: '2001:db8:b::1'}
    expect(consistencyProblems(doc).problems).toEqual([])
  })

  test('an address held by a failed or deleting node may be reused', () => {
    const doc = planted(2)
    const [a, b] = Object.keys(doc.forests)
    doc.forests[a].status = 'failed'
    doc.nodes[a][0].status = 'failed'
    doc.nodes[a][1].status = 'deleting'
    doc.nodes[b][0].ip = doc.nodes[a][0].ip
    doc.nodes[b][1].ip = doc.nodes[a][1].ip
    expect(consistencyProblems(doc).problems).toEqual([])
  })

  test('two live nodes of one provider and device on one address and port: a problem naming both', () => {
    const doc = planted(5)
    const ids = Object.keys(doc.forests)
    doc.nodes[ids[4]][2].ip = doc.nodes[ids[1]][0].ip
    expect(consistencyProblems(doc).problems).toEqual([
      `address ${doc.nodes[ids[1]][0].ip} port 4222 is used by both ${ids[1]}/node-1 and ${ids[4]}/node-3 (provider local, device device-a)`,
    ])
    // The same address on other ports (several servers on one host) is not.
    doc.nodes[ids[4]][2].ports = {client: 14222, cluster: 16222, monitor: 18222}
    expect(consistencyProblems(doc).problems).toEqual([])
  })

  test('two live records of one provider with the same provider_ref: one machine recorded twice', () => {
    const doc = planted(2, 'hetzner', null)
    const [a, b] = Object.keys(doc.forests)
    doc.nodes[b][1].provider_ref = doc.nodes[a][1].provider_ref
    expect(consistencyProblems(doc).problems).toEqual([
      `${a}/node-2 and ${b}/node-2 are the same machine (provider_ref 1002) (provider hetzner)`,
    ])
  })

  test('an active forest without nodes is a problem; unfinished operations and nodes not active are warnings', () => {
    const doc = planted(2)
    const [a, b] = Object.keys(doc.forests)
    doc.nodes[a] = []
    doc.nodes[b][0].status = 'starting'
    doc.forests[b].operation = {device: 'device-a', kind: 'grow', pid: 42, started_at: AT}
    expect(consistencyProblems(doc)).toEqual({
      problems: [`forest ${a} is active but has no nodes`],
      warnings: [
        `forest ${b} is active but 1 of its nodes are not`,
        `forest ${b}: a grow started ${AT} on device-a (pid 42) has not finished`,
      ],
    })
  })

  test('the hint for consistency problems never sends anyone to an older revision', () => {
    expect(CONSISTENCY_HINT).not.toMatch(/registry restore|registry history/)
    expect(CONSISTENCY_HINT).toMatch(/morpheus status <forest>/)
  })
})
