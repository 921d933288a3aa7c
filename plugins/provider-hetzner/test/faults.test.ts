import {drivePlant, driveTeardown, type DriveResult} from '../../../test/fixtures/hetzner-sim/drive.js'
import {rejection} from '../../../test/helpers/unit.js'
import {harness, TOKEN, type Harness} from './helpers.js'

const never = () => new AbortController().signal

/** A clear error: a code, a message naming what failed, a hint, and never the token. */
function expectClear(error: any, code: string, message: RegExp): void {
  expect(error).toBeInstanceOf(Error)
  expect(error.code).toBe(code)
  expect(error.message).toMatch(message)
  expect(typeof error.hint).toBe('string')
  expect(error.hint.length).toBeGreaterThan(10)
  expect(JSON.stringify({hint: error.hint, message: error.message, stack: error.stack})).not.toContain(TOKEN)
}

function firstError(result: DriveResult): any {
  return result.prepareError ?? [...result.errors.values()][0]
}

describe('hetzner provider: bad input and faults', () => {
  let h: Harness
  const saved = {
    HCLOUD_TOKEN: process.env.HCLOUD_TOKEN,
    HETZNER_API_TOKEN: process.env.HETZNER_API_TOKEN,
    HCLOUD_ENDPOINT: process.env.HCLOUD_ENDPOINT,
  }
  beforeEach(() => {
    delete process.env.HCLOUD_TOKEN
    delete process.env.HETZNER_API_TOKEN
    delete process.env.HCLOUD_ENDPOINT
  })
  afterEach(async () => {
    Object.assign(process.env, Object.fromEntries(Object.entries(saved).filter(([, v]) => v !== undefined)))
    expect(h.sim.violations).toEqual([])
    expect(h.logs.join('\n')).not.toContain(TOKEN)
    await h.sim.stop()
  })

  test('no token: PREREQUISITE before any request, saying where a token goes', async () => {
    h = await harness({secrets: {}})
    const error = await rejection(h.provider.preflight(never()))
    expectClear(error, 'PREREQUISITE', /no Hetzner API token/)
    expect(error.hint).toMatch(/HCLOUD_TOKEN/)
    expect(h.sim.requests).toHaveLength(0)
  })

  test("the token from the context's secrets only (the core resolves HCLOUD_TOKEN / HETZNER_API_TOKEN into them)", async () => {
    h = await harness({secrets: {}})
    process.env.HCLOUD_TOKEN = TOKEN
    process.env.HETZNER_API_TOKEN = TOKEN
    expectClear(await rejection(h.provider.preflight(never())), 'PREREQUISITE', /no Hetzner API token/)
    expect(h.sim.requests).toHaveLength(0)
    const given = await harness({secrets: {hetzner_api_token: TOKEN}})
    await given.provider.preflight(never())
    expect(given.sim.requests.length).toBeGreaterThan(0)
    expect(given.sim.requests.every((r) => r.status === 200)).toBe(true)
    expect(given.sim.violations).toEqual([])
    await given.sim.stop()
  })

  test('a wrong token (401): AUTH with the code and a hint; not retried; the token never printed', async () => {
    h = await harness({secrets: {hetzner_api_token: 'wrong-token-0123456789'}})
    const error = await rejection(h.provider.preflight(never()))
    expectClear(error, 'AUTH', /unauthorized \(HTTP 401\)/)
    expect(error.message).not.toContain('wrong-token-0123456789')
    expect(h.sim.requests).toHaveLength(1)
  })

  test('a read-only token: the first write fails with forbidden (AUTH) and nothing is left', async () => {
    h = await harness({secrets: {hetzner_api_token: 'read-only-token'}})
    const result = await drivePlant(h.provider, {count: 2, ports: h.context.ports, forestId: 'forest-ro'})
    expectClear(firstError(result), 'AUTH', /forbidden \(HTTP 403\)/)
    expect(firstError(result).hint).toMatch(/Read & Write/)
    expect(h.sim.paid()).toEqual({primaryIps: [], servers: []})
  })

  test('an unknown server type or location: named, with the valid choices, before anything is created', async () => {
    h = await harness({config: {server_type: 'cx99'}})
    expectClear(await rejection(h.provider.preflight(never())), 'FAILED', /unknown server type "cx99"/)
    const other = await harness({config: {location: 'mars1'}})
    const error = await rejection(other.provider.preflight(never()))
    expectClear(error, 'FAILED', /unknown location "mars1"/)
    expect(error.hint).toMatch(/fsn1, nbg1/)
    expect(h.sim.count('POST') + other.sim.count('POST')).toBe(0)
    expect(other.sim.violations).toEqual([])
    await other.sim.stop()
  })

  test('a type that cannot be ordered in the location: the configured fallback location is used, and said so', async () => {
    h = await harness({config: {locations: ['nbg1']}})
    h.sim.notOrderable.add('cpx22@fsn1')
    const result = await drivePlant(h.provider, {count: 1, ports: h.context.ports, forestId: 'forest-order'})
    expect([...result.errors.values()]).toEqual([])
    expect([...h.sim.servers.values()].map((s) => s.location)).toEqual(['nbg1'])
    expect(h.logs.join('\n')).toMatch(/cpx22 cannot be ordered in fsn1 right now; using cpx22 in nbg1/)
  })

  test('quota exceeded (resource_limit_exceeded): clear error; the failed nodes leave no Primary IP; teardown leaves nothing', async () => {
    h = await harness()
    h.sim.faults.limits = {servers: 1}
    const result = await drivePlant(h.provider, {count: 3, ports: h.context.ports, forestId: 'forest-quota', parallel: 1})
    expect(result.errors.size).toBe(2)
    const error = firstError(result)
    expectClear(error, 'FAILED', /resource_limit_exceeded/)
    expect(error.hint).toMatch(/limit/)
    // Only the one server that was made, and its own addresses, remain (the forest is the engine's to tear down).
    expect(h.sim.paid().servers).toEqual(['forest-quota-node-1'])
    expect(h.sim.paid().primaryIps.sort()).toEqual(['forest-quota-node-1-v4', 'forest-quota-node-1-v6'])
    await driveTeardown(h.provider, result.forest, result.nodes)
    expect(h.sim.paid()).toEqual({primaryIps: [], servers: []})
    expect(h.sim.firewalls.size).toBe(0)
  })

  test('a Primary IP quota hit in prepare: the addresses this run made are deleted, no firewall, no server', async () => {
    h = await harness()
    h.sim.faults.limits = {primaryIps: 3}
    const result = await drivePlant(h.provider, {count: 2, ports: h.context.ports, forestId: 'forest-ipquota'})
    expectClear(result.prepareError, 'FAILED', /POST \/primary_ips: resource_limit_exceeded/)
    expect(h.sim.paid()).toEqual({primaryIps: [], servers: []})
    expect(h.sim.firewalls.size).toBe(0)
  })

  test('a name already taken (uniqueness_error): that node fails clearly, is not retried, and leaves nothing', async () => {
    h = await harness()
    h.sim.faults.nameTaken = /node-2$/
    const result = await drivePlant(h.provider, {count: 2, ports: h.context.ports, forestId: 'forest-taken'})
    expect([...result.errors.keys()]).toEqual(['node-2'])
    expectClear(result.errors.get('node-2'), 'FAILED', /a server named "forest-taken-node-2" already exists/)
    expect(h.sim.count('POST', /^\/servers$/)).toBe(2)
    expect(h.sim.paid().primaryIps.filter((n) => n.includes('node-2'))).toEqual([])
    await driveTeardown(h.provider, result.forest, result.nodes)
    expect(h.sim.paid()).toEqual({primaryIps: [], servers: []})
  })

  test('the rate limit (429): waits until RateLimit-Reset, tells the user why, then succeeds', async () => {
    h = await harness()
    h.sim.faults.rateLimit = {count: 2, resetSeconds: 1}
    const started = Date.now()
    const result = await drivePlant(h.provider, {count: 1, ports: h.context.ports, forestId: 'forest-rate'})
    expect([...result.errors.values()]).toEqual([])
    expect(h.logs.join('\n')).toMatch(/rate limit reached on GET \/server_types.*waiting \d+\.\ds until it resets \(RateLimit-Reset\)/)
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    expect(h.sim.paid().servers).toEqual(['forest-rate-node-1'])
  })

  test("502 and 504 are retried (Hetzner's rule) and the plant succeeds; 503 and 500 are not retried", async () => {
    h = await harness()
    h.sim.faults.serverErrors = [{count: 2, match: /^POST \/servers$/, status: 502}]
    const result = await drivePlant(h.provider, {count: 1, ports: h.context.ports, forestId: 'forest-502'})
    expect([...result.errors.values()]).toEqual([])
    expect(h.sim.count('POST', /^\/servers$/)).toBe(3)
    expect(h.logs.join('\n')).toMatch(/POST \/servers: bad_gateway \(HTTP 502\); trying again in .*\(try 2 of 5\)/)
    h.sim.faults.serverErrors = [{count: 1, match: /^GET \/server_types$/, status: 503}]
    const fresh = await harness()
    fresh.sim.faults.serverErrors = [{count: 1, match: /^GET \/server_types$/, status: 503}]
    const error = await rejection(fresh.provider.preflight(never()))
    expectClear(error, 'UNREACHABLE', /unavailable \(HTTP 503\)/)
    expect(fresh.sim.count('GET', /^\/server_types$/)).toBe(1)
    await fresh.sim.stop()
  })

  test('at most 5 tries: a 504 that never ends gives up with the code', async () => {
    h = await harness()
    h.sim.faults.serverErrors = [{count: 100, match: /^GET \/server_types$/, status: 504}]
    const error = await rejection(h.provider.preflight(never()))
    expectClear(error, 'UNREACHABLE', /timeout \(HTTP 504\)/)
    expect(h.sim.count('GET', /^\/server_types$/)).toBe(5)
  }, 90_000)

  test('the API going down mid-plant: a clear error, and clean-up waits for the API to delete what this run made', async () => {
    h = await harness({sim: {bootMs: 1500}})
    const result = drivePlant(h.provider, {count: 2, ports: h.context.ports, forestId: 'forest-down'})
    // Down for 2 s from the first poll of the servers' actions on.
    for (let i = 0; i < 200 && h.sim.count('POST', /^\/servers$/) < 2; i++) await new Promise((r) => setTimeout(r, 20))
    h.sim.faults.downUntil = Date.now() + 2000
    const done = await result
    expect(done.errors.size).toBe(2)
    expectClear(firstError(done), 'UNREACHABLE', /GET \/actions: unavailable \(HTTP 503\)/)
    expect(h.sim.paid()).toEqual({primaryIps: [], servers: []})
    await driveTeardown(h.provider, done.forest, done.nodes)
    expect(h.sim.firewalls.size).toBe(0)
  }, 90_000)

  test('Ctrl-C mid-plant: every server and Primary IP this run made is deleted before the call returns', async () => {
    h = await harness({sim: {bootMs: 3000}})
    const interrupt = new AbortController()
    const running = drivePlant(h.provider, {count: 3, ports: h.context.ports, forestId: 'forest-ctrlc', signal: interrupt.signal})
    for (let i = 0; i < 300 && h.sim.count('POST', /^\/servers$/) < 3; i++) await new Promise((r) => setTimeout(r, 20))
    expect(h.sim.servers.size).toBe(3)
    interrupt.abort()
    const result = await running
    expect(result.errors.size).toBe(3)
    for (const e of result.errors.values()) expect((e as Error).name).toBe('AbortError')
    expect(h.sim.paid()).toEqual({primaryIps: [], servers: []})
    await driveTeardown(h.provider, result.forest, result.nodes)
    expect(h.sim.firewalls.size).toBe(0)
  })

  test('a server that never finishes booting: fails after boot_timeout_seconds, and is deleted with its addresses', async () => {
    h = await harness({config: {boot_timeout_seconds: 1}})
    h.sim.faults.neverBoot = 1
    const result = await drivePlant(h.provider, {count: 2, ports: h.context.ports, forestId: 'forest-stuck', parallel: 1})
    expect([...result.errors.keys()]).toEqual(['node-1'])
    expectClear(result.errors.get('node-1'), 'FAILED', /create_server: not finished within 1s/)
    expect(h.sim.paid().servers).toEqual(['forest-stuck-node-2'])
    expect(h.sim.paid().primaryIps.filter((n) => n.includes('node-1'))).toEqual([])
  })

  test('resource_unavailable in one location: falls back to the next configured location, says so, moves the addresses and the firewall', async () => {
    h = await harness({config: {locations: ['nbg1']}})
    h.sim.faults.unavailableIn = ['fsn1']
    const result = await drivePlant(h.provider, {count: 2, ports: h.context.ports, forestId: 'forest-fallback'})
    expect([...result.errors.values()]).toEqual([])
    expect([...h.sim.servers.values()].map((s) => s.location)).toEqual(['nbg1', 'nbg1'])
    expect([...h.sim.primaryIps.values()].map((p) => p.location)).toEqual(['nbg1', 'nbg1', 'nbg1', 'nbg1'])
    expect(h.logs.join('\n')).toMatch(/cpx22 in fsn1 is not available \(resource_unavailable\); trying cpx22 in nbg1/)
    const [fw] = [...h.sim.firewalls.values()]
    const cidrs = result.nodes.flatMap((n) => [`${n.ipv4}/32`, `${n.ipv6}/128`]).sort()
    expect(fw.rules.find((r) => r.port === String(h.context.ports.cluster))?.source_ips).toEqual(cidrs)
    for (const n of result.nodes)
      expect(h.sim.primaryIps.get([...h.sim.servers.values()].find((s) => s.labels.node === n.id)!.ipv4!)?.ip).toBe(n.ipv4)
  })

  test('user data over 32 KiB is refused before any server is created', async () => {
    h = await harness()
    h.context.templates.userData = () => 'x'.repeat(33 * 1024)
    const result = await drivePlant(h.provider, {count: 1, ports: h.context.ports, forestId: 'forest-big'})
    expectClear(firstError(result), 'FAILED', /user data is 33792 bytes; Hetzner accepts at most 32768/)
    expect(h.sim.count('POST', /^\/servers$/)).toBe(0)
    expect(h.sim.paid()).toEqual({primaryIps: [], servers: []})
  })
})
