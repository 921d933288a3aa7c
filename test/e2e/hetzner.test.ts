import {jetstream, jetstreamManager} from '@nats-io/jetstream'
import {existsSync, readFileSync} from 'node:fs'

import {hetznerConfig, type HetznerConfigOptions} from '../fixtures/hetzner-sim/config.js'
import {HetznerSim} from '../fixtures/hetzner-sim/server.js'
import {AckedWriter, connectClient} from '../helpers/acked-writer.js'
import {Sandbox, collect, onTerminal} from '../helpers/cli.js'
import {connectForest} from '../../src/jetstream/connect.js'

// `morpheus plant cloud` against the Hetzner API simulator (a test fixture: no machine here reaches Hetzner), through
// the built CLI: the core's user data boots each simulated server as a real nats-server on its loopback Primary IPv4,
// so the forest that forms is a real cluster. Every request the CLI makes is checked against the official API spec.
const TOKEN = 'e2e-token-7c1d9a3f5b8e2c4d6f0a1b3c5d7e9f21'

function config(ports: {client: number; cluster: number; monitor: number}, options: HetznerConfigOptions = {}): string {
  return hetznerConfig({...options, forest: {ports, ...options.forest}})
}

function randomPorts() {
  const base = 20000 + Math.floor(Math.random() * 400) * 100
  return {client: base + 21, cluster: base + 61, monitor: base + 81}
}

describe('hetzner: plant cloud, status, list, teardown through the built CLI against the simulator', () => {
  let sim: HetznerSim
  let sb: Sandbox
  let forestId = ''
  beforeAll(async () => {
    const block = 10 + Math.floor(Math.random() * 8) * 10
    sim = new HetznerSim({bootMs: 500, bootNats: true, ipv4Pool: [block, block + 9], tokens: {ro: [], rw: [TOKEN]}})
    await sim.start()
    sb = new Sandbox(config(randomPorts()), {HCLOUD_ENDPOINT: sim.url, HCLOUD_TOKEN: TOKEN})
  })
  afterAll(async () => {
    await sim.stop()
    await sb.cleanup()
  })
  afterEach(() => expect(sim.violations).toEqual([]))

  test('plant cloud medium --dry-run: the user data of each node and server, and the cost; read-only requests only, nothing created', async () => {
    const r = await sb.run(['plant', 'cloud', 'medium', '--dry-run', '--json'], {timeoutMs: 60_000})
    expect(r.code).toBe(0)
    // The simulator's price list: cpx22 in fsn1 7.70 + Primary IPv4 0.60 + IPv6 0.00 a month.
    expect(JSON.parse(r.stdout).estimate).toEqual({
      breakdown: ['cpx22 in fsn1: 7.70 EUR', 'Primary IPv4: 0.60 EUR', 'Primary IPv6: 0.00 EUR', 'firewall: free'],
      monthly: {amount: 24.9, currency: 'EUR'},
      per_node: {amount: 8.3, currency: 'EUR'},
    })
    expect(r.stdout).toContain('#cloud-config')
    expect(r.stdout).toContain('"server_type": "cpx22"')
    expect(sim.requests.filter((q) => q.method !== 'GET')).toEqual([])
    expect(sim.paid()).toEqual({primaryIps: [], servers: []})
    expect(r.stdout + r.stderr).not.toContain(TOKEN)
  })

  test('a paid plant is not made without a yes: no terminal and no --yes is exit 2 with the cost, and nothing is created', async () => {
    const r = await sb.run(['plant', 'cloud', 'medium'], {timeoutMs: 60_000})
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('Estimated cost: 24.90 EUR a month (3 × 8.30 EUR per node: cpx22 in fsn1: 7.70 EUR')
    expect(r.stderr).toContain('refusing to plant 3 hetzner nodes (24.90 EUR a month) without confirmation')
    expect(r.stderr).toContain('--yes')
    expect(sim.requests.filter((q) => q.method !== 'GET')).toEqual([])
    expect(sim.paid()).toEqual({primaryIps: [], servers: []})
    expect(existsSync(sb.registryPath) ? sb.registry().forests : {}).toEqual({})
  })

  test('on a terminal, plant shows the cost and asks; answering N creates nothing', async () => {
    const r = await onTerminal(sb, ['plant', 'cloud', 'small'], [{type: 'n\r', when: 'a month?'}])
    expect(r.out).toContain('Estimated cost: 8.30 EUR a month (1 × 8.30 EUR per node: cpx22 in fsn1: 7.70 EUR, Primary IPv4: 0.60 EUR')
    expect(r.out).toContain('Plant 1 hetzner node for about 8.30 EUR a month?')
    expect(r.out).toContain('plant cancelled; nothing was created')
    expect(r.code).toBe(2)
    expect(sim.requests.filter((q) => q.method !== 'GET')).toEqual([])
    expect(existsSync(sb.registryPath) ? sb.registry().forests : {}).toEqual({})
  }, 90_000)

  test('plant cloud medium --yes: three servers with Primary IPs, a firewall, a formed NATS cluster, the cost in the JSON, the token nowhere', async () => {
    const r = await sb.run(['plant', 'cloud', 'medium', '--yes', '--json'], {timeoutMs: 120_000})
    expect(r.code).toBe(0)
    const result = JSON.parse(r.stdout)
    expect(result.estimate.monthly).toEqual({amount: 24.9, currency: 'EUR'})
    forestId = result.forest.id
    expect(result.forest).toMatchObject({provider: 'hetzner', status: 'active'})
    expect(result.nodes).toHaveLength(3)
    for (const n of result.nodes) {
      expect(n.ipv4).toMatch(/^127\.0\.50\.\d+$/)
      expect(n.ipv6).toMatch(/::1$/)
      expect(n.status).toBe('active')
      const varz: any = await (await fetch(`${n.monitor}/varz`)).json()
      expect(varz.routes).toBe(2)
      expect(varz.cluster.name).toBe(forestId)
    }
    expect([...sim.servers.values()].map((s) => s.labels.forest)).toEqual([forestId, forestId, forestId])
    expect(sim.firewalls.size).toBe(1)
    expect(sim.count('POST', /^\/primary_ips$/)).toBe(6)
    for (const text of [r.stdout, r.stderr, readFileSync(sb.registryPath, 'utf8')]) expect(text).not.toContain(TOKEN)
  }, 150_000)

  test('list and status report it live', async () => {
    const list = await sb.json(['list'])
    expect(list.forests.map((f: any) => f.id)).toEqual([forestId])
    const status = await sb.json(['status', forestId])
    expect(status.health).toBe('healthy')
    expect(status.nodes.every((n: any) => n.health.healthy && n.health.routes === 2)).toBe(true)
  })

  test('grow --auto adds node-4: a server on its own Primary IPs that joins the real cluster, and the firewall lets it in', async () => {
    // --threshold 0: a node's memory use is always above 0%, so the decision is to grow, whatever the load.
    const r = await sb.run(['grow', forestId, '--auto', '--threshold', '0', '--json'], {timeoutMs: 120_000})
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({forest_id: forestId, status: 'expanded'})
    expect(out.action).toMatchObject({count: 1, node_ids: ['node-4'], nodes_after: 4})
    expect(out.action.monthly_price).toEqual({amount: 8.3, currency: 'EUR'})
    const servers = [...sim.servers.values()].filter((s: any) => s.labels.forest === forestId)
    expect(servers.map((s: any) => s.labels.node).sort()).toEqual(['node-1', 'node-2', 'node-3', 'node-4'])
    const status = await sb.json(['status', forestId])
    expect(status.health).toBe('healthy')
    expect(status.nodes).toHaveLength(4)
    expect(status.nodes.every((n: any) => n.health.healthy && n.health.routes === 3)).toBe(true)
    // One firewall still, and its cluster-port rule now names node-4's address.
    expect(sim.firewalls.size).toBe(1)
    const node4 = sb.registry().nodes[forestId].find((n: any) => n.id === 'node-4')
    const rules = JSON.stringify([...sim.firewalls.values()][0].rules)
    expect(rules).toContain(node4.ipv4)
    expect(r.stdout + r.stderr).not.toContain(TOKEN)
  }, 150_000)

  test('teardown --orphans: lists and deletes only what is labelled managed-by=morpheus and belongs to no forest', async () => {
    const stray = async (name: string, labels: Record<string, string>) => {
      const res = await fetch(`${sim.url}/servers`, {
        body: JSON.stringify({image: 'ubuntu-24.04', labels, location: 'fsn1', name, server_type: 'cpx22'}),
        headers: {Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json'},
        method: 'POST',
      })
      expect(res.status).toBe(201)
    }
    await stray('forest-gone-node-1', {'managed-by': 'morpheus', forest: 'forest-gone', node: 'node-1', role: 'edge'})
    await stray('not-ours', {team: 'web'})
    // The gone forest's firewall, applied by its label selector as plant makes it: it can only be deleted once the selector is removed.
    const fw = await fetch(`${sim.url}/firewalls`, {
      body: JSON.stringify({
        apply_to: [{label_selector: {selector: 'managed-by=morpheus,forest=forest-gone'}, type: 'label_selector'}],
        labels: {'managed-by': 'morpheus', forest: 'forest-gone'},
        name: 'morpheus-forest-gone',
        rules: [],
      }),
      headers: {Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json'},
      method: 'POST',
    })
    expect(fw.status).toBe(201)
    const ours = () => [...sim.servers.values()].filter((s: any) => s.labels.forest === forestId).length
    const dry = await sb.json(['teardown', '--orphans', '--dry-run'])
    expect(dry).toMatchObject({dry_run: true, provider: 'hetzner', removed: []})
    expect(dry.orphans).toEqual([
      {forest: 'forest-gone', id: expect.any(String), kind: 'server', name: 'forest-gone-node-1'},
      {forest: 'forest-gone', id: expect.any(String), kind: 'firewall', name: 'morpheus-forest-gone'},
    ])
    const refused = await sb.run(['teardown', '--orphans'])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('refusing to delete 2 orphaned resources at hetzner without confirmation')
    expect(sim.servers.size).toBe(6)
    const both = await sb.run(['teardown', forestId, '--orphans'])
    expect(both.code).toBe(2)
    const done = await sb.json(['teardown', '--orphans', '--yes'])
    expect(done.removed.map((o: any) => o.name)).toEqual(['forest-gone-node-1', 'morpheus-forest-gone'])
    expect([...sim.servers.values()].map((s: any) => s.name)).not.toContain('forest-gone-node-1')
    expect([...sim.firewalls.values()].map((f: any) => f.name)).toEqual([`morpheus-${forestId}`])
    expect([...sim.servers.values()].map((s: any) => s.name)).toContain('not-ours')
    expect(ours()).toBe(4)
    expect((await sb.json(['teardown', '--orphans', '--dry-run'])).orphans).toEqual([])
    // The one that is not Morpheus's stays, whatever happens; remove it so teardown below counts only the forest.
    const notOurs = [...sim.servers.values()].find((s: any) => s.name === 'not-ours') as any
    await fetch(`${sim.url}/servers/${notOurs.id}`, {headers: {Authorization: `Bearer ${TOKEN}`}, method: 'DELETE'})
  }, 120_000)

  test('a forest-wide clean-up that fails (maintenance while removing the firewall) exits non-zero and keeps the forest; a re-run finishes', async () => {
    const planted = await sb.json(['plant', 'cloud', 'small', '--yes'])
    const id = planted.forest.id
    sim.faults.errors = [{code: 'maintenance', count: 1, match: /^POST \/firewalls\/\d+\/actions\/remove_from_resources$/}]
    const failed = await sb.run(['teardown', id, '--yes'])
    expect(failed.code).not.toBe(0)
    expect(failed.stderr).toContain('the forest-wide clean-up failed')
    expect(failed.stderr).toMatch(/remove_from_resources: maintenance \(HTTP 403\)/)
    expect(sb.registry().forests[id]).toBeDefined()
    expect([...sim.firewalls.values()].map((f: any) => f.name)).toContain(`morpheus-${id}`)
    const again = await sb.json(['teardown', id, '--yes'])
    expect(again.removed).toEqual([])
    expect([...sim.firewalls.values()].map((f: any) => f.name)).not.toContain(`morpheus-${id}`)
    expect([...sim.servers.values()].filter((s: any) => s.labels.forest === id)).toEqual([])
    expect(sb.registry().forests[id]).toBeUndefined()
  }, 150_000)

  test('teardown deletes every server with the forest label (also one the registry does not know), the firewall and the Primary IPs', async () => {
    // A server the registry does not know, carrying the forest's labels (as after a crash between create and record).
    const res = await fetch(`${sim.url}/servers`, {
      body: JSON.stringify({
        image: 'ubuntu-24.04',
        labels: {'managed-by': 'morpheus', forest: forestId, node: 'node-9', role: 'edge'},
        location: 'fsn1',
        name: `${forestId}-stray`,
        server_type: 'cpx22',
      }),
      headers: {Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json'},
      method: 'POST',
    })
    expect(res.status).toBe(201)
    const result = await sb.json(['teardown', forestId, '--yes'])
    expect(result.removed.sort()).toEqual(['node-1', 'node-2', 'node-3', 'node-4'])
    expect(result.orphans_removed).toEqual(['node-9'])
    expect(sim.paid()).toEqual({primaryIps: [], servers: []})
    expect(sim.firewalls.size).toBe(0)
    expect(sb.registry().forests[forestId]).toBeUndefined()
  }, 120_000)

  test('a server of the forest that the registry does not list (a crash between create and record) is removed at teardown as a node, and reported', async () => {
    const planted = await sb.json(['plant', 'cloud', 'small', '--yes'])
    const id = planted.forest.id
    const post = (path: string, body: unknown) =>
      fetch(`${sim.url}${path}`, {
        body: JSON.stringify(body),
        headers: {Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json'},
        method: 'POST',
      })
    // What such a crash leaves: the node's Primary IP, and its server on it, both labelled for the forest.
    const labels = {'managed-by': 'morpheus', forest: id, node: 'node-2', role: 'edge'}
    const ip = await post('/primary_ips', {
      assignee_type: 'server',
      auto_delete: true,
      labels,
      location: 'fsn1',
      name: `${id}-node-2-v6`,
      type: 'ipv6',
    })
    expect(ip.status).toBe(201)
    const made = await post('/servers', {
      image: 'ubuntu-24.04',
      labels,
      location: 'fsn1',
      name: `${id}-node-2`,
      public_net: {enable_ipv4: false, enable_ipv6: true, ipv6: ((await ip.json()) as any).primary_ip.id},
      server_type: 'cpx22',
    })
    expect(made.status).toBe(201)
    const strayId = ((await made.json()) as any).server.id
    expect(sb.registry().nodes[id].map((n: any) => n.id)).toEqual(['node-1'])
    const from = sim.requests.length
    const r = await sb.run(['teardown', id, '--yes'], {timeoutMs: 120_000})
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`Removed forest ${id}: 1 node and 1 machine the registry did not list.`)
    expect(r.stderr).toContain('1 machine the registry did not list: node-2')
    // Removed as a node of its own (the provider asked for node-2's server and addresses), before the forest-wide sweep.
    const during = sim.requests.slice(from)
    const asNode = during.findIndex(
      (q) => q.method === 'GET' && q.path === '/servers' && decodeURIComponent(q.query).includes('node=node-2'),
    )
    const deleted = during.findIndex((q) => q.method === 'DELETE' && q.path === `/servers/${strayId}`)
    const sweep = during.findIndex((q) => q.method === 'GET' && q.path === '/firewalls')
    expect(asNode).toBeGreaterThan(-1)
    expect(deleted).toBeGreaterThan(asNode)
    expect(sweep).toBeGreaterThan(deleted)
    expect(sim.servers.has(strayId)).toBe(false)
    expect([...sim.primaryIps.values()].filter((p: any) => p.labels.forest === id)).toEqual([])
    expect([...sim.firewalls.values()].filter((f: any) => f.labels.forest === id)).toEqual([])
    expect(sb.registry().forests[id]).toBeUndefined()
  }, 150_000)

  // Growing a one-node Hetzner forest makes node-1 again as a cluster member, its streams carried over SSH (proven on
  // real nodes in real-nodes.test.ts). These simulated servers run no SSH: the carry cannot start, so grow refuses first.
  test('a one-node forest whose node cannot be reached over SSH does not grow on Hetzner: exit 5 with why, and no server added or changed', async () => {
    const planted = await sb.json(['plant', 'cloud', 'small', '--yes'])
    const id = planted.forest.id
    const serverIds = () => [...sim.servers.values()].filter((s: any) => s.labels.forest === id).map((s: any) => s.id)
    const before = serverIds()
    expect(before).toHaveLength(1)
    const r = await sb.run(['grow', id, '--auto', '--threshold', '0', '--json'], {timeoutMs: 120_000})
    expect(r.code).toBe(5)
    const out = JSON.parse(r.stdout)
    expect(out).toMatchObject({forest_id: id, status: 'error'})
    expect(out.error.message).toContain('its JetStream data could not be kept if it grew')
    expect(out.error.message).toMatch(/cannot reach node-1's NATS client port through SSH \(root@[^)]+\): .*refused\); nothing was changed/)
    expect(out.error.hint).toContain('providers.hetzner.ssh_identity_file')
    expect(serverIds()).toEqual(before)
    expect(sb.registry().nodes[id].map((n: any) => n.id)).toEqual(['node-1'])
    expect((await sb.json(['status', id])).health).toBe('healthy')
    await sb.json(['teardown', id, '--yes'])
    expect(sim.paid()).toEqual({primaryIps: [], servers: []})
  }, 150_000)

  test('client_access: direct: a one-node forest grows, node-1 made again on its Primary IPs with its R1 stream carried (every acked message there)', async () => {
    const direct = new Sandbox(config(randomPorts(), {growth: {cooldown_minutes: 0}, hetzner: {client_access: 'direct'}}), {
      HCLOUD_ENDPOINT: sim.url,
      HCLOUD_TOKEN: TOKEN,
    })
    try {
      const planted = await direct.json(['plant', 'cloud', 'small', '--yes'])
      const id = planted.forest.id
      const servers = () => [...sim.servers.values()].filter((s: any) => s.labels.forest === id)
      const [old] = servers()
      const nc = await connectForest([planted.nodes[0].client], {name: 'e2e writer'})
      await (await jetstreamManager(nc)).streams.add({name: 'ORDERS', subjects: ['orders.>']})
      for (let i = 1; i <= 50; i++) await jetstream(nc).publish('orders.new', String(i))
      await nc.close()
      const r = await direct.runJson(['grow', id, '--auto', '--threshold', '0'], {timeoutMs: 180_000})
      if (r.code !== 0) throw new Error(`grow failed: ${r.stdout}\n${r.stderr}`)
      expect(r.out.action).toMatchObject({count: 1, node_ids: ['node-2'], nodes_after: 2})
      // node-1 is a new server with the old one's name and addresses; the old one is gone.
      const node1 = servers().find((s: any) => s.labels.node === 'node-1')!
      expect(node1.id).not.toBe(old.id)
      expect([node1.name, node1.ipv4, node1.ipv6]).toEqual([old.name, old.ipv4, old.ipv6])
      expect(sim.servers.has(old.id)).toBe(false)
      expect(await direct.settled(id)).toEqual({health: 'healthy', problems: []})
      // node-2's client port: node-1's URL with node-2's address (the forest's ports).
      const node2 = direct.registry().nodes[id].find((n: any) => n.id === 'node-2')
      const url = new URL(planted.nodes[0].client)
      url.hostname = node2.probe_address ?? node2.ip
      const after = await connectForest([url.toString()], {name: 'e2e reader'})
      const info = await (await jetstreamManager(after)).streams.info('ORDERS')
      expect({messages: info.state.messages, subjects: info.config.subjects}).toEqual({messages: 50, subjects: ['orders.>']})
      const last = await (await jetstreamManager(after)).streams.getMessage('ORDERS', {seq: 50})
      expect(last!.string()).toBe('50')
      await after.close()
      expect((await direct.runJson(['teardown', id, '--yes'], {timeoutMs: 120_000})).code).toBe(0)
      expect(servers()).toEqual([])
    } finally {
      await direct.cleanup()
    }
  }, 300_000)

  test("a cloud plant boots its servers in one round (the provider's bound, 10) with the defaults; a forest.parallel in the config still bounds it", async () => {
    /** The create_server actions of a forest's servers: when each started and finished (ms). */
    const creates = (forest: string) => {
      const ids = new Set([...sim.servers.values()].filter((s: any) => s.labels.forest === forest).map((s: any) => s.id))
      return [...sim.actions.values()]
        .filter((a: any) => a.command === 'create_server' && ids.has(a.resources[0].id))
        .map((a: any) => ({finished: Date.parse(a.finished), started: Date.parse(a.started)}))
        .sort((a, b) => a.started - b.started)
    }
    const six = await sb.json(['plant', 'cloud', '--nodes', '6', '--yes'])
    const round = creates(six.forest.id)
    expect(round).toHaveLength(6)
    // Every server was being created before the first one was up: one round of boots (5 at a time would make two).
    expect(Math.max(...round.map((a) => a.started))).toBeLessThan(Math.min(...round.map((a) => a.finished)))
    await sb.json(['teardown', six.forest.id, '--yes'])
    const bounded = new Sandbox(config(randomPorts(), {forest: {parallel: 2}}), {HCLOUD_ENDPOINT: sim.url, HCLOUD_TOKEN: TOKEN})
    try {
      const three = await bounded.json(['plant', 'cloud', '--nodes', '3', '--yes'])
      const waves = creates(three.forest.id)
      expect(waves).toHaveLength(3)
      expect(waves[2].started).toBeGreaterThanOrEqual(Math.min(waves[0].finished, waves[1].finished))
      await bounded.json(['teardown', three.forest.id, '--yes'])
    } finally {
      await bounded.cleanup()
    }
    expect(sim.paid()).toEqual({primaryIps: [], servers: []})
  }, 240_000)

  test('a wrong token: exit 5 with the code and a hint, nothing created, the token not printed', async () => {
    const r = await sb.run(['plant', 'cloud', 'small'], {env: {HCLOUD_TOKEN: 'wrong-token-5e6f7a8b9c'}})
    expect(r.code).toBe(5)
    expect(r.stderr).toMatch(/unauthorized \(HTTP 401\)/)
    expect(r.stderr).toMatch(/secrets\.hetzner_api_token/)
    expect(r.stdout + r.stderr).not.toContain('wrong-token-5e6f7a8b9c')
    expect(sim.paid()).toEqual({primaryIps: [], servers: []})
  })

  test("the token's one precedence: secrets.hetzner_api_token in the config, else HCLOUD_TOKEN, else HETZNER_API_TOKEN", async () => {
    const plain = new Sandbox(config(randomPorts(), {token: null}), {HCLOUD_ENDPOINT: sim.url, HCLOUD_TOKEN: '', HETZNER_API_TOKEN: ''})
    const named = new Sandbox(config(randomPorts(), {token: '${MY_HETZNER_TOKEN}'}), {
      HCLOUD_ENDPOINT: sim.url,
      HCLOUD_TOKEN: '',
      HETZNER_API_TOKEN: '',
    })
    const wrong = 'wrong-token-1a2b3c4d5e'
    const dryRun = (s: Sandbox, env: NodeJS.ProcessEnv) =>
      s.run(['plant', 'cloud', 'small', '--dry-run', '--json'], {env, timeoutMs: 60_000})
    try {
      // No secrets: in the config: the environment, HCLOUD_TOKEN first.
      expect((await dryRun(plain, {HCLOUD_TOKEN: TOKEN})).code).toBe(0)
      expect((await dryRun(plain, {HETZNER_API_TOKEN: TOKEN})).code).toBe(0)
      expect((await dryRun(plain, {HCLOUD_TOKEN: wrong, HETZNER_API_TOKEN: TOKEN})).code).toBe(5)
      const none = await dryRun(plain, {})
      expect(none.code).toBe(5)
      expect(JSON.parse(none.stdout).error).toEqual(
        expect.objectContaining({code: 'PROVIDER', message: expect.stringMatching(/no Hetzner API token/)}),
      )
      // The config names its own variable: that one wins over both.
      expect((await dryRun(named, {HCLOUD_TOKEN: wrong, HETZNER_API_TOKEN: wrong, MY_HETZNER_TOKEN: TOKEN})).code).toBe(0)
      const configWins = await dryRun(named, {HCLOUD_TOKEN: TOKEN, HETZNER_API_TOKEN: TOKEN, MY_HETZNER_TOKEN: wrong})
      expect(configWins.code).toBe(5)
      for (const r of [none, configWins]) expect(r.stdout + r.stderr).not.toContain(wrong)
    } finally {
      await plain.cleanup()
      await named.cleanup()
    }
    expect(sim.paid()).toEqual({primaryIps: [], servers: []})
  }, 120_000)

  test('Ctrl-C mid-plant: exit 130, and no server or Primary IP is left behind', async () => {
    const before = sim.count('POST', /^\/servers$/)
    const child = sb.spawn(['plant', 'cloud', 'medium', '--yes'])
    const done = collect(child, 120_000)
    for (let i = 0; i < 600 && sim.count('POST', /^\/servers$/) < before + 1; i++) await new Promise((r) => setTimeout(r, 25))
    child.kill('SIGINT')
    const r = await done
    expect(r.code).toBe(130)
    expect(sim.paid()).toEqual({primaryIps: [], servers: []})
    expect(sim.firewalls.size).toBe(0)
  }, 150_000)

  test('the API going down mid-plant: a clear error, non-zero, and nothing left once the API is back', async () => {
    const before = sim.count('POST', /^\/servers$/)
    const child = sb.spawn(['plant', 'cloud', 'medium', '--yes'])
    const done = collect(child, 150_000)
    for (let i = 0; i < 600 && sim.count('POST', /^\/servers$/) < before + 3; i++) await new Promise((r) => setTimeout(r, 25))
    sim.faults.downUntil = Date.now() + 3000
    const r = await done
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/unavailable \(HTTP 503\)/)
    expect(sim.paid()).toEqual({primaryIps: [], servers: []})
  }, 180_000)
})

describe('hetzner: shrink and upgrade through the built CLI against the simulator (its servers run the user data’s real nats-server)', () => {
  let sim: HetznerSim
  let sb: Sandbox
  beforeAll(async () => {
    const block = 100 + Math.floor(Math.random() * 8) * 10
    sim = new HetznerSim({bootMs: 300, bootNats: true, ipv4Pool: [block, block + 9], tokens: {ro: [], rw: [TOKEN]}})
    await sim.start()
    // The simulated servers run no SSH: this machine reaches their client ports itself (client_access: direct).
    sb = new Sandbox(config(randomPorts(), {hetzner: {client_access: 'direct'}}), {HCLOUD_ENDPOINT: sim.url, HCLOUD_TOKEN: TOKEN})
  })
  afterAll(async () => {
    await sim.stop()
    await sb.cleanup()
  })
  afterEach(() => expect(sim.violations).toEqual([]))

  test('3 → 2 nodes under acked writes: replicas moved, the server shut down (NATS in lame duck mode) before it is deleted, nothing of it left, no acked message lost', async () => {
    const planted = await sb.json(['plant', 'cloud', 'medium', '--yes'], {timeoutMs: 120_000})
    const id = planted.forest.id
    const ports = planted.nodes[0].client.split(':').pop()
    const clients = (): string[] => sb.registry().nodes[id].map((n: any) => `nats://${n.ipv4}:${ports}`)
    const writer = await AckedWriter.start({
      intervalMs: 10,
      servers: clients(),
      streams: [
        {name: 'R2', replicas: 2},
        {name: 'R1', replicas: 1},
      ],
    })
    try {
      await writer.waitForAcks(100)
      // The node holding the R1 stream: its one copy has to move before the server goes.
      const nc = await connectClient(clients())
      const node = (await (await jetstreamManager(nc)).streams.info('R1')).cluster!.leader!
      await nc.close()
      const record = sb.registry().nodes[id].find((n: any) => n.id === node)
      const serverId = Number(record.provider_ref)
      const ips = [sim.servers.get(serverId)!.ipv4, sim.servers.get(serverId)!.ipv6]
      const from = sim.requests.length
      const r = await sb.runJson(['shrink', id, '--node', node, '--yes'], {timeoutMs: 240_000})
      if (r.code !== 0) throw new Error(`shrink exited ${r.code}\n${r.stdout}\n${r.stderr}`)
      expect(r.out).toMatchObject({forest: {node_count: 2, operation: null}, picked: false, removed: {id: node}, resumed: false})
      expect(r.out.moved).toEqual(expect.arrayContaining([{replicas: 1, replicas_after: 1, stream: 'R1'}]))
      // The calls on that server: a graceful shutdown, and only then the delete; never a power-off.
      const onServer = sim.requests
        .slice(from)
        .filter((q) => q.method !== 'GET' && q.path.startsWith(`/servers/${serverId}`))
        .map((q) => `${q.method} ${q.path.replace(/\/\d+/, '/{id}')} ${q.status}`)
      expect(onServer).toEqual(['POST /servers/{id}/actions/shutdown 201', 'DELETE /servers/{id} 200'])
      // Its operating system stopped NATS with the unit's stop signal (lame duck mode), and it left by itself.
      expect(sim.shutdowns).toEqual([expect.objectContaining({code: 0, result: 'exited', server: serverId, signal: 'SIGUSR2'})])
      // Nothing of it is left: no server, no Primary IP, no firewall rule for its addresses.
      expect(sim.servers.has(serverId)).toBe(false)
      for (const ip of ips) expect(ip === undefined || !sim.primaryIps.has(ip)).toBe(true)
      expect([...sim.servers.values()].filter((s: any) => s.labels.forest === id).map((s: any) => s.labels.node)).not.toContain(node)
      expect(JSON.stringify([...sim.firewalls.values()][0].rules)).not.toContain(record.ipv4)
      expect(sb.registry().nodes[id].map((n: any) => n.id)).not.toContain(node)

      await writer.waitForAcks(50, 60_000)
      await writer.stop()
      const report = await writer.verify(clients())
      expect(report.map((x) => [x.stream, x.missing])).toEqual([
        ['R2', []],
        ['R1', []],
      ])
      expect(report.every((x) => x.acked >= 100)).toBe(true)
      expect(await sb.settled(id)).toEqual({health: 'healthy', problems: []})
    } finally {
      await writer.close()
    }
    await sb.json(['teardown', id, '--yes'])
    expect(sim.paid()).toEqual({primaryIps: [], servers: []})
  }, 360_000)

  test('upgrade under acked writes: the R1 stream moved off each node before its new server (an empty disk) replaces it; each old server shut down before its delete; no acked message lost', async () => {
    const planted = await sb.json(['plant', 'cloud', 'medium', '--yes'], {timeoutMs: 120_000})
    const id = planted.forest.id
    const port = planted.nodes[0].client.split(':').pop()
    const clients = (): string[] => sb.registry().nodes[id].map((n: any) => `nats://${n.ipv4}:${port}`)
    const writer = await AckedWriter.start({
      intervalMs: 10,
      servers: clients(),
      streams: [
        {name: 'U3', replicas: 3},
        {name: 'U1', replicas: 1},
      ],
    })
    try {
      await writer.waitForAcks(100)
      const nc = await connectClient(clients())
      const holder = (await (await jetstreamManager(nc)).streams.info('U1')).cluster!.leader!
      await nc.close()
      const oldServers = sb.registry().nodes[id].map((n: any) => Number(n.provider_ref))
      const shutdownsBefore = sim.shutdowns.length
      const from = sim.requests.length

      const dry = await sb.json(['upgrade', id, '--nats', '2.11.4', '--dry-run'])
      expect(dry.moved).toEqual([{from: holder, stream: 'U1', to: null}])
      const r = await sb.runJson(['upgrade', id, '--nats', '2.11.4', '--yes'], {timeoutMs: 300_000})
      if (r.code !== 0) throw new Error(`upgrade exited ${r.code}\n${r.stdout}\n${r.stderr}`)
      expect(r.out).toMatchObject({status: 'upgraded', target: {nats: '2.11.4'}})
      expect([...r.out.upgraded].sort()).toEqual(['node-1', 'node-2', 'node-3'])
      // U1 left its node before that node's server was replaced (and again wherever it was when its turn came).
      expect(r.out.moved[0]).toMatchObject({from: holder, stream: 'U1'})
      for (const m of r.out.moved) expect(m.to).not.toBe(m.from)
      // Every old server: shut down (NATS in lame duck mode, leaving by itself), then deleted; new servers in their place.
      for (const serverId of oldServers) {
        const calls = sim.requests
          .slice(from)
          .filter((q) => q.method !== 'GET' && q.path.startsWith(`/servers/${serverId}`))
          .map((q) => `${q.method} ${q.path.replace(/\/\d+/, '/{id}')} ${q.status}`)
        expect(calls).toEqual(['POST /servers/{id}/actions/shutdown 201', 'DELETE /servers/{id} 200'])
        expect(sim.servers.has(serverId)).toBe(false)
      }
      expect(
        sim.shutdowns
          .slice(shutdownsBefore)
          .map((x) => [x.server, x.signal, x.result, x.code])
          .sort(),
      ).toEqual(oldServers.map((serverId: number) => [serverId, 'SIGUSR2', 'exited', 0]).sort())

      await writer.waitForAcks(50, 60_000)
      await writer.stop()
      const report = await writer.verify(clients())
      expect(report.map((x) => [x.stream, x.missing])).toEqual([
        ['U3', []],
        ['U1', []],
      ])
      expect(report.every((x) => x.acked >= 100)).toBe(true)
      const check = await connectClient(clients())
      const u1 = await (await jetstreamManager(check)).streams.info('U1')
      await check.close()
      expect(u1.config.num_replicas).toBe(1)
      expect(u1.state.messages).toBe(report.find((x) => x.stream === 'U1')!.found)
      expect(await sb.settled(id)).toEqual({health: 'healthy', problems: []})
    } finally {
      await writer.close()
    }
    await sb.json(['teardown', id, '--yes'])
    expect(sim.paid()).toEqual({primaryIps: [], servers: []})
  }, 420_000)
})
