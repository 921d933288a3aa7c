import {drivePlant, driveTeardown} from '../../../test/fixtures/hetzner-sim/drive.js'
import {harness, randomPorts, type Harness} from './helpers.js'

async function varz(ip: string, port: number): Promise<{routes: number} | undefined> {
  try {
    const r = await fetch(`http://${ip}:${port}/varz`, {signal: AbortSignal.timeout(500)})
    return (await r.json()) as {routes: number}
  } catch {
    return undefined
  }
}

describe('hetzner provider against the simulator: plant and teardown', () => {
  let h: Harness
  afterEach(async () => {
    expect(h.sim.violations).toEqual([])
    await h.sim.stop()
  })

  test('three nodes: Primary IPs before servers, every node boots with every peer, a real NATS cluster forms; teardown leaves nothing', async () => {
    const ports = randomPorts()
    h = await harness({ports, sim: {bootMs: 400, bootNats: true, ipv4Pool: [10, 40]}})
    const result = await drivePlant(h.provider, {count: 3, forestId: 'forest-1700000001', ports})
    expect([...result.errors.values()]).toEqual([])
    // Every address was known before the first server existed.
    const firstServer = h.sim.requests.findIndex((r) => r.method === 'POST' && r.path === '/servers')
    const lastIp = h.sim.requests.map((r) => r.method === 'POST' && r.path === '/primary_ips').lastIndexOf(true)
    expect(lastIp).toBeLessThan(firstServer)
    for (const n of result.nodes) {
      expect(n.ipv4).toMatch(/^127\.0\.50\.\d+$/)
      expect(n.ipv6).toMatch(/^2001:db8:50:[0-9a-f]+::1$/)
      expect(n.ip).toBe(n.ipv4)
      expect(n.provider_ref).toMatch(/^\d+$/)
    }
    // Labels, IPv6 on, Primary IPs assigned with auto_delete.
    const servers = [...h.sim.servers.values()]
    expect(servers.map((s) => s.labels)).toEqual(
      result.nodes.map((n) => ({'managed-by': 'morpheus', forest: 'forest-1700000001', node: n.id, role: 'edge'})),
    )
    for (const s of servers) expect(h.sim.primaryIps.get(s.ipv6!)?.auto_delete).toBe(true)
    // One firewall, by label selector, routes only between nodes, monitoring from nodes + operator.
    const [fw] = [...h.sim.firewalls.values()]
    expect(fw.applyTo).toEqual([{label_selector: {selector: 'managed-by=morpheus,forest=forest-1700000001'}, type: 'label_selector'}])
    const cidrs = result.nodes.flatMap((n) => [`${n.ipv4}/32`, `${n.ipv6}/128`]).sort()
    expect(fw.rules.find((r) => r.port === String(ports.cluster))?.source_ips).toEqual(cidrs)
    expect(fw.rules.find((r) => r.port === String(ports.monitor))?.source_ips).toEqual([...cidrs, '127.0.0.1/32'].sort())
    expect(fw.rules.find((r) => r.port === '22')?.source_ips).toEqual(['127.0.0.1/32'])
    expect(h.sim.appliedTo(fw)).toHaveLength(3)
    // Actions were waited on in batches: every GET /actions asked for several ids at once.
    const polls = h.sim.requests.filter((r) => r.path === '/actions')
    expect(polls.length).toBeGreaterThan(0)
    expect(polls.length).toBeLessThan(20)
    expect(Math.max(...polls.map((r) => new URLSearchParams(r.query).getAll('id').length))).toBe(6)
    // The nats-servers booted from the user data route to each other.
    let routes: number[] = []
    for (let i = 0; i < 100; i++) {
      routes = await Promise.all(result.nodes.map(async (n) => (await varz(n.ipv4!, ports.monitor))?.routes ?? -1))
      if (routes.every((r) => r === 2)) break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(routes).toEqual([2, 2, 2])
    expect((await h.provider.listNodes('forest-1700000001', new AbortController().signal)).map((n) => [n.id, n.running])).toEqual([
      ['node-1', true],
      ['node-2', true],
      ['node-3', true],
    ])
    await driveTeardown(h.provider, result.forest, result.nodes)
    expect(h.sim.paid()).toEqual({primaryIps: [], servers: []})
    expect(h.sim.firewalls.size).toBe(0)
    expect(await varz(result.nodes[0].ipv4!, ports.monitor)).toBeUndefined()
  })
})
