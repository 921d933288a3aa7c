import type {NodeRecord} from 'morpheus/plugin-api'

import {forestRecord} from '../../../test/fixtures/hetzner-sim/drive.js'
import {HetznerProvider} from '../src/provider.js'
import {deleteFirewall, findFirewalls, syncFirewall} from '../src/resources/firewall.js'
import {createPrimaryIp, deletePrimaryIps, forestPrimaryIps} from '../src/resources/primary-ips.js'
import {deleteServer} from '../src/resources/servers.js'
import {harness, type Harness} from './helpers.js'

// The resource modules on their own, in hetzner-k3s's manner: each finds before it creates, and each
// delete accepts what is gone already, so running a step again converges instead of duplicating.
const never = () => new AbortController().signal
const nodeRecord = (forestId: string, id: string): NodeRecord => ({
  created_at: new Date().toISOString(),
  forest_id: forestId,
  id,
  ip: '',
  role: 'edge',
  status: 'creating',
})
// Writes the simulator took (a 423 `locked` while a firewall action runs is retried, and not counted).
const writes = (h: Harness) =>
  h.sim.requests
    .filter((r) => r.method !== 'GET' && r.status !== 423)
    .map((r) => `${r.method} ${r.path.replace(/\d+/g, '{id}')} ${r.status}`)

describe('hetzner resources: find before create, delete what is there', () => {
  let h: Harness
  afterEach(async () => {
    expect(h.sim.violations).toEqual([])
    await h.sim.stop()
  })

  test('prepare run twice on the same nodes (a re-run): no second Primary IP, no second firewall, no rule write', async () => {
    h = await harness()
    const forest = forestRecord('forest-again', 2, h.context.ports)
    const nodes = ['node-1', 'node-2'].map((id) => nodeRecord(forest.id, id))
    const request = {existing: [], forest, nodes, progress: () => undefined, signal: never()}
    const first = await h.provider.prepare(request)
    const made = writes(h)
    expect(made.filter((w) => w.startsWith('POST /primary_ips'))).toHaveLength(4)
    expect(made.filter((w) => w === 'POST /firewalls 201')).toHaveLength(1)
    const again = await new HetznerProvider(h.context).prepare(request)
    expect(writes(h)).toEqual(made)
    expect(again.addresses).toEqual(first.addresses)
    expect(h.sim.primaryIps.size).toBe(4)
    expect(h.sim.firewalls.size).toBe(1)
  })

  test('syncFirewall: creates once, then writes rules only when they change', async () => {
    h = await harness()
    const forest = forestRecord('forest-fw', 1, h.context.ports)
    const operator = async () => ['127.0.0.1/32']
    await syncFirewall(h.provider, forest, ['192.0.2.10'], operator, never())
    await syncFirewall(h.provider, forest, ['192.0.2.10'], operator, never())
    expect(writes(h)).toEqual(['POST /firewalls 201'])
    await syncFirewall(h.provider, forest, ['192.0.2.10', '192.0.2.11'], operator, never())
    expect(writes(h)).toEqual(['POST /firewalls 201', 'POST /firewalls/{id}/actions/set_rules 201'])
    const [fw] = await findFirewalls(h.provider, forest.id, never())
    expect(fw.rules.find((r) => r.port === String(h.context.ports.cluster))?.source_ips).toEqual(['192.0.2.10/32', '192.0.2.11/32'])
  })

  test('deletes converge: a firewall, Primary IPs and a server already gone are fine, and nothing is left', async () => {
    h = await harness()
    const forest = forestRecord('forest-gone', 1, h.context.ports)
    const node = nodeRecord(forest.id, 'node-1')
    const ip = await createPrimaryIp(h.provider, forest, node, 'ipv6', 'fsn1', never())
    expect((await forestPrimaryIps(h.provider, forest.id, never())).get('node-1')?.v6?.id).toBe(ip.id)
    await syncFirewall(h.provider, forest, ['192.0.2.10'], async () => ['127.0.0.1/32'], never())
    const [fw] = await findFirewalls(h.provider, forest.id, never())
    await deleteFirewall(h.provider, fw.id, never())
    await deleteFirewall(h.provider, fw.id, never())
    await deletePrimaryIps(h.provider, [ip.id])
    await deletePrimaryIps(h.provider, [ip.id])
    await deleteServer(h.provider, 999_999, never())
    expect(h.sim.firewalls.size).toBe(0)
    expect(h.sim.primaryIps.size).toBe(0)
    expect(h.provider.created).toEqual({firewalls: new Set(), primaryIps: new Set(), servers: new Set()})
    expect(h.sim.requests.filter((r) => r.method === 'DELETE' && r.status === 404).map((r) => r.path.replace(/\d+/g, '{id}'))).toEqual([
      '/primary_ips/{id}',
      '/servers/{id}',
    ])
  })
})
