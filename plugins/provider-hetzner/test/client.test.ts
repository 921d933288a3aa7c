import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {localise, natsConfFromUserData} from '../../../test/fixtures/hetzner-sim/boot.js'
import {parseSelector} from '../../../test/fixtures/hetzner-sim/labels.js'
import {SpecValidator} from '../../../test/fixtures/hetzner-sim/spec.js'
import {drivePlant} from '../../../test/fixtures/hetzner-sim/drive.js'
import {hostOfIpv6} from '../src/addresses.js'
import {firewallRules, sameRules} from '../src/firewall.js'
import {fingerprint} from '../src/ssh.js'
import {rejection} from '../../../test/helpers/unit.js'
import {harness, TOKEN, type Harness} from './helpers.js'

const never = () => new AbortController().signal
// A real ed25519 public key body (random bytes are enough for the fingerprint rule).
const PUBLIC_KEY = `ssh-ed25519 ${Buffer.concat([Buffer.from('\0\0\0\x0bssh-ed25519\0\0\0 ', 'latin1'), Buffer.alloc(32, 7)]).toString('base64')} me@laptop`

describe('the simulator holds requests to the spec', () => {
  const v = new SpecValidator()
  test('a valid request passes; a wrong type, an unknown field, an unknown query parameter and an unknown path fail', () => {
    expect(
      v.validate(
        'POST',
        '/primary_ips',
        new URLSearchParams(),
        JSON.stringify({assignee_type: 'server', auto_delete: true, location: 'fsn1', name: 'a', type: 'ipv6'}),
      ).errors,
    ).toEqual([])
    expect(
      v
        .validate('POST', '/primary_ips', new URLSearchParams(), JSON.stringify({assignee_type: 'server', name: 'a', type: 'ipv5'}))
        .errors.join(),
    ).toMatch(/body\/type: must be equal to one of the allowed values/)
    expect(
      v
        .validate(
          'POST',
          '/primary_ips',
          new URLSearchParams(),
          JSON.stringify({assignee_type: 'server', autodelete: true, name: 'a', type: 'ipv6'}),
        )
        .errors.join(),
    ).toMatch(/must NOT have additional properties \(autodelete\)/)
    expect(v.validate('POST', '/servers', new URLSearchParams(), JSON.stringify({image: 'x', name: 'n'})).errors.join()).toMatch(
      /must have required property 'server_type'/,
    )
    expect(v.validate('GET', '/servers', new URLSearchParams('labelselector=a'), '').errors.join()).toMatch(
      /query.labelselector: not a parameter/,
    )
    expect(v.validate('GET', '/servers', new URLSearchParams('page=x'), '').errors.join()).toMatch(/query.page: must be integer/)
    expect(v.validate('GET', '/actions', new URLSearchParams(), '').errors).toEqual(['query.id: required'])
    expect(v.validate('GET', '/actions', new URLSearchParams('id=1&id=2'), '').query).toEqual({id: [1, 2]})
    expect(v.validate('GET', '/nothing', new URLSearchParams(), '').errors.join()).toMatch(/no such path/)
    expect(v.validate('DELETE', '/servers/abc', new URLSearchParams(), '').errors.join()).toMatch(/path.id: must be integer/)
  })

  test('label selectors: =, !=, presence, absence, in, notin, AND', () => {
    const l = {forest: 'f1', 'managed-by': 'morpheus', role: 'edge'}
    expect(parseSelector('managed-by=morpheus,forest=f1')(l)).toBe(true)
    expect(parseSelector('managed-by=morpheus,forest=f2')(l)).toBe(false)
    expect(parseSelector('forest!=f2,role')(l)).toBe(true)
    expect(parseSelector('!node')(l)).toBe(true)
    expect(parseSelector('forest in (f0,f1),role notin (core)')(l)).toBe(true)
    expect(parseSelector('forest notin (f1)')(l)).toBe(false)
  })

  test('booting: the nats.conf from the user data, bound to the node address, files moved into the sandbox', () => {
    const conf =
      'listen: "[::]:4222"\nhttp: "0.0.0.0:8222"\njetstream {\n  store_dir: "/var/lib/nats/jetstream"\n}\ncluster {\n  listen: "[::]:6222"\n  tls { ca_file: "/etc/nats/ca.pem" }\n}\n'
    const userData = `#cloud-config\nwrite_files:\n  - path: /etc/nats/nats.conf\n    content: ${JSON.stringify(conf)}\n`
    expect(natsConfFromUserData(userData)).toBe(conf)
    const out = localise(conf, '127.0.50.9', '/tmp/x', new Map([['/etc/nats/ca.pem', '/tmp/x/files/etc/nats/ca.pem']]))
    expect(out).toContain('listen: "127.0.50.9:4222"')
    expect(out).toContain('http: "127.0.50.9:8222"')
    expect(out).toContain('listen: "127.0.50.9:6222"')
    expect(out).toContain('store_dir: "/tmp/x/jetstream"')
    expect(out).toContain('ca_file: "/tmp/x/files/etc/nats/ca.pem"')
  })
})

describe('provider pieces', () => {
  test('firewall rules: routes only from nodes, monitoring from nodes and the operator, SSH from its CIDRs; at most 100 sources a rule', () => {
    const ports = {client: 4222, cluster: 6222, monitor: 8222}
    const rules = firewallRules(['10.0.0.1/32', '2001:db8::1/128'], ['203.0.113.7/32'], ['198.51.100.0/24'], ports)
    expect(rules.map((r) => [r.port, r.source_ips])).toEqual([
      ['6222', ['10.0.0.1/32', '2001:db8::1/128']],
      ['8222', ['10.0.0.1/32', '2001:db8::1/128', '203.0.113.7/32']],
      ['4222', ['10.0.0.1/32', '2001:db8::1/128', '203.0.113.7/32']],
      ['22', ['198.51.100.0/24']],
    ])
    const many = Array.from({length: 150}, (_, i) => `10.0.${Math.floor(i / 200)}.${i}/32`)
    expect(
      firewallRules(many, [], ['0.0.0.0/0'], ports)
        .filter((r) => r.port === '6222')
        .map((r) => r.source_ips!.length),
    ).toEqual([100, 50])
    expect(sameRules(rules, [...rules].reverse())).toBe(true)
    expect(sameRules(rules, rules.slice(1))).toBe(false)
  })

  test('IPv6 host of a Primary IP /64, and the MD5 fingerprint Hetzner shows', () => {
    expect(hostOfIpv6('2a01:4f8:c012:abcd::/64')).toBe('2a01:4f8:c012:abcd::1')
    expect(fingerprint(PUBLIC_KEY)).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/)
    expect(() => fingerprint('not a key')).toThrow(/not an OpenSSH public key/)
  })
})

describe('provider against the simulator: lists, prices, SSH keys, orphans', () => {
  let h: Harness
  afterEach(async () => {
    expect(h.sim.violations).toEqual([])
    expect(h.logs.join('\n')).not.toContain(TOKEN)
    await h.sim.stop()
  })

  test('listNodes reads every page (per_page 50)', async () => {
    h = await harness()
    for (let i = 1; i <= 60; i++) {
      const id = 5000 + i
      h.sim.servers.set(id, {
        created: new Date().toISOString(),
        id,
        image: 'ubuntu-24.04',
        labels: {'managed-by': 'morpheus', forest: 'forest-many', node: `node-${i}`, role: 'edge'},
        location: 'fsn1',
        name: `forest-many-node-${i}`,
        status: 'running',
        type: 'cpx22',
        userData: '',
      })
    }
    const nodes = await h.provider.listNodes('forest-many', never())
    expect(nodes).toHaveLength(60)
    expect(new Set(nodes.map((n) => n.id)).size).toBe(60)
    expect(h.sim.requests.filter((r) => r.path === '/servers').map((r) => new URLSearchParams(r.query).get('page'))).toEqual(['1', '2'])
  })

  test('resources(): monthly price of the type in the location plus its Primary IPv4, and memory, from /pricing', async () => {
    h = await harness()
    const r = await h.provider.resources({created_at: '', forest_id: 'f', id: 'node-1', ip: '', role: 'edge', status: 'reserved'}, never())
    expect(r).toEqual({memory_bytes: 4 * 1024 ** 3, monthly_price: {amount: 8.3, currency: 'EUR'}})
  })

  test('estimate(): the forest per month from /pricing, with what it is made of; without IPv4 only the server and its IPv6', async () => {
    h = await harness()
    const e = await h.provider.estimate!({count: 3, signal: never()})
    expect(e.monthly).toEqual({amount: 24.9, currency: 'EUR'})
    expect(e.per_node).toEqual({amount: 8.3, currency: 'EUR'})
    expect(e.breakdown).toEqual(['cpx22 in fsn1: 7.70 EUR', 'Primary IPv4: 0.60 EUR', 'Primary IPv6: 0.00 EUR', 'firewall: free'])
    await h.sim.stop()
    h = await harness({config: {ipv4: false, route_via: 'ipv6'}})
    const v6 = await h.provider.estimate!({count: 2, signal: never()})
    expect(v6.monthly).toEqual({amount: 15.4, currency: 'EUR'})
    expect(v6.breakdown).not.toContain('Primary IPv4: 0.60 EUR')
  })

  test('an SSH key from a path is uploaded once, then found by its fingerprint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hz-key-'))
    writeFileSync(join(dir, 'id.pub'), PUBLIC_KEY + '\n')
    h = await harness({config: {ssh_public_key_path: join(dir, 'id.pub')}})
    await drivePlant(h.provider, {count: 1, forestId: 'forest-key1', ports: h.context.ports})
    expect(h.sim.sshKeys.size).toBe(1)
    const [key] = [...h.sim.sshKeys.values()]
    expect([...h.sim.servers.values()][0]).toBeDefined()
    const second = await harness({config: {ssh_public_key_path: join(dir, 'id.pub')}})
    second.sim.sshKeys.set(key.id, key)
    await drivePlant(second.provider, {count: 1, forestId: 'forest-key2', ports: second.context.ports})
    expect(second.sim.count('POST', /^\/ssh_keys$/)).toBe(0)
    expect(second.sim.count('GET', /^\/ssh_keys$/)).toBe(1)
    expect(second.sim.violations).toEqual([])
    await second.sim.stop()
  })

  test('an SSH key name that is not in the project is a clear error before any server', async () => {
    h = await harness({config: {ssh_key: 'nobody'}})
    const result = await drivePlant(h.provider, {count: 1, forestId: 'forest-nokey', ports: h.context.ports})
    expect((result.prepareError as Error).message).toMatch(/no SSH key named "nobody"/)
    expect(h.sim.paid()).toEqual({primaryIps: [], servers: []})
  })

  test('orphans(): resources labelled managed-by=morpheus whose forest is unknown or missing', async () => {
    h = await harness()
    await drivePlant(h.provider, {count: 1, forestId: 'forest-known', ports: h.context.ports})
    await drivePlant(h.provider, {count: 1, forestId: 'forest-lost', ports: h.context.ports})
    const orphans = await h.provider.orphans(['forest-known'], never())
    expect(orphans.map((o) => `${o.kind}:${o.name}`).sort()).toEqual([
      'firewall:morpheus-forest-lost',
      'primary_ip:forest-lost-node-1-v4',
      'primary_ip:forest-lost-node-1-v6',
      'server:forest-lost-node-1',
    ])
    // In deletion order: the server first (it holds the addresses), then its firewall, then the addresses.
    expect(orphans.map((o) => o.kind)).toEqual(['server', 'firewall', 'primary_ip', 'primary_ip'])
    expect(orphans.every((o) => o.forest === 'forest-lost')).toBe(true)
    const kept = h.sim.paid()
    for (const o of orphans) await h.provider.destroyOrphan!(o, never())
    expect(await h.provider.orphans(['forest-known'], never())).toEqual([])
    // The known forest keeps its server, addresses and firewall; destroying again is no error.
    expect(h.sim.paid().servers).toHaveLength(kept.servers.length - 1)
    expect([...h.sim.servers.values()].map((s: any) => s.labels.forest)).toEqual(['forest-known'])
    expect([...h.sim.firewalls.values()].map((f: any) => f.labels.forest)).toEqual(['forest-known'])
    await h.provider.destroyOrphan!(orphans[0], never())
    await expect(h.provider.destroyOrphan!({id: 'x', kind: 'server', name: 'x'}, never())).rejects.toThrow(/not a Hetzner resource id/)
  })
})

describe('provider against the simulator: firewall as nodes come and go, operator address, timeouts', () => {
  let h: Harness
  afterEach(async () => {
    expect(h.sim.violations).toEqual([])
    await h.sim.stop()
  })

  const rule = (port: number) => [...h.sim.firewalls.values()][0].rules.find((r) => r.port === String(port))?.source_ips
  const cidrs = (nodes: Array<{ipv4?: string; ipv6?: string}>) => nodes.flatMap((n) => [`${n.ipv4}/32`, `${n.ipv6}/128`]).sort()

  test('grow adds the new node to the firewall before it exists; a node leaving a live forest leaves it too', async () => {
    h = await harness()
    const first = await drivePlant(h.provider, {count: 2, forestId: 'forest-fw', ports: h.context.ports})
    expect(rule(h.context.ports.cluster)).toEqual(cidrs(first.nodes))
    const grown = await drivePlant(h.provider, {count: 1, existing: first.nodes, forestId: 'forest-fw', ports: h.context.ports})
    expect([...grown.errors.values()]).toEqual([])
    expect(grown.nodes.map((n) => n.id)).toEqual(['node-3'])
    expect(h.sim.firewalls.size).toBe(1)
    expect(rule(h.context.ports.cluster)).toEqual(cidrs([...first.nodes, ...grown.nodes]))
    await h.provider.destroyNode(first.nodes[0], {...grown.forest, status: 'active'}, never())
    expect(rule(h.context.ports.cluster)).toEqual(cidrs([first.nodes[1], grown.nodes[0]]))
    expect(rule(h.context.ports.monitor)).toEqual([...cidrs([first.nodes[1], grown.nodes[0]]), '127.0.0.1/32'].sort())
  })

  test('operator_cidrs empty: the address this machine is seen from (public_address_url); unreachable: PREREQUISITE with a hint', async () => {
    const {createServer} = await import('node:http')
    const whoami = createServer((_req, res) => res.end('198.51.100.7\n'))
    await new Promise<void>((r) => whoami.listen(0, '127.0.50.1', () => r()))
    const port = (whoami.address() as {port: number}).port
    h = await harness({config: {operator_cidrs: [], public_address_url: `http://127.0.50.1:${port}/`}})
    await drivePlant(h.provider, {count: 1, forestId: 'forest-whoami', ports: h.context.ports})
    expect(rule(h.context.ports.monitor)).toContain('198.51.100.7/32')
    expect(rule(22)).toEqual(['198.51.100.7/32'])
    whoami.close()
    const other = await harness({config: {operator_cidrs: [], public_address_url: `http://127.0.50.1:${port}/`}})
    const error = await rejection(other.provider.preflight(never()))
    expect(error.code).toBe('PREREQUISITE')
    expect(error.message).toMatch(/could not find out this machine's public address/)
    expect(error.hint).toMatch(/operator_cidrs/)
    await other.sim.stop()
  })

  test('a request over request_timeout_seconds counts as a timeout and is tried again', async () => {
    h = await harness({config: {request_timeout_seconds: 1}})
    h.sim.faults.slow = {count: 1, ms: 1500}
    await h.provider.preflight(never())
    expect(h.sim.count('GET', /^\/server_types$/)).toBe(2)
    expect(h.logs.join('\n')).toMatch(/GET \/server_types\?name=cpx22: timeout; trying again/)
  })
})
