import {readFileSync} from 'node:fs'

import {drivePlant, driveTeardown, forestRecord} from '../../../test/fixtures/hetzner-sim/drive.js'
import {GENERIC, OPERATION_SPECIFIC} from '../../../test/fixtures/hetzner-sim/errors.js'
import type {HetznerSim} from '../../../test/fixtures/hetzner-sim/server.js'
import {rejection, until} from '../../../test/helpers/unit.js'
import {harness, TOKEN, type Harness} from './helpers.js'

// The API's "no", as the official spec lists it, and what Morpheus does with each: the simulator answers every
// operation specific error of the operations Morpheus calls from the state behind it (a firewall's applied_to, a
// Primary IP's assignee, a running action), plus the generic errors as injectable faults.
const never = () => new AbortController().signal
const spec = JSON.parse(readFileSync(new URL('../../../test/fixtures/hetzner-sim/cloud.spec.json', import.meta.url), 'utf8'))

/** A raw API request to the simulator (what another tool, or the user in the Console, does beside Morpheus). */
async function api(sim: HetznerSim, method: string, path: string, body?: unknown): Promise<{status: number; body: any; headers: Headers}> {
  const res = await fetch(`${sim.url}${path}`, {
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: {Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json'},
    method,
  })
  const text = await res.text()
  return {body: text ? JSON.parse(text) : undefined, headers: res.headers, status: res.status}
}

/** An IPv6 Primary IP with `labels`, held by a server made beside Morpheus (by hand, another tool). */
async function heldAddress(
  sim: HetznerSim,
  labels: Record<string, string>,
  ipName: string,
  serverName: string,
): Promise<{ip: any; server: any}> {
  const ip = (
    await api(sim, 'POST', '/primary_ips', {
      assignee_type: 'server',
      auto_delete: false,
      labels,
      location: 'fsn1',
      name: ipName,
      type: 'ipv6',
    })
  ).body.primary_ip
  const server = (
    await api(sim, 'POST', '/servers', {
      image: 'ubuntu-24.04',
      location: 'fsn1',
      name: serverName,
      public_net: {enable_ipv4: false, enable_ipv6: true, ipv6: ip.id},
      server_type: 'cpx22',
    })
  ).body.server
  return {ip, server}
}

const selectorOf = (forestId: string) => ({label_selector: {selector: `managed-by=morpheus,forest=${forestId}`}, type: 'label_selector'})

/** Statuses the simulator answered, by "METHOD /path-template". */
function answered(sim: HetznerSim, status: number): string[] {
  return sim.requests.filter((r) => r.status === status).map((r) => `${r.method} ${r.path.replace(/\/\d+/g, '/{id}')}`)
}

test("every error code the simulator can answer is in the spec, with that status (generic table, and each operation's own table)", () => {
  const generic = spec.info.description as string
  for (const [code, status] of Object.entries(GENERIC)) expect(generic).toContain(`| \`${status}\` | \`${code}\` |`)
  for (const [operation, codes] of Object.entries(OPERATION_SPECIFIC)) {
    const [method, path] = operation.split(' ')
    const text = spec.paths[path][method.toLowerCase()].description as string
    for (const [code, status] of Object.entries(codes)) expect(text).toContain(`| \`${status}\` | \`${code}\` |`)
  }
})

describe('the simulator says no as the spec says', () => {
  let h: Harness
  afterEach(async () => {
    expect(h.sim.violations).toEqual([])
    await h.sim.stop()
  })

  test('a firewall applied by label selector: resource_in_use on delete even with no server; a server it reaches by the selector cannot be removed alone; locked while its removal runs', async () => {
    h = await harness({sim: {firewallMs: 300}})
    const made = await api(h.sim, 'POST', '/firewalls', {apply_to: [selectorOf('f1')], labels: {}, name: 'fw', rules: []})
    expect(made.status).toBe(201)
    const id = made.body.firewall.id
    await new Promise((r) => setTimeout(r, 350))
    // No server carries the labels, and still:
    const refused = await api(h.sim, 'DELETE', `/firewalls/${id}`)
    expect([refused.status, refused.body.error.code]).toEqual([422, 'resource_in_use'])
    const server = await api(h.sim, 'POST', '/servers', {
      image: 'ubuntu-24.04',
      labels: {'managed-by': 'morpheus', forest: 'f1'},
      location: 'fsn1',
      name: 's1',
      server_type: 'cpx22',
    })
    const alone = await api(h.sim, 'POST', `/firewalls/${id}/actions/remove_from_resources`, {
      remove_from: [{server: {id: server.body.server.id}, type: 'server'}],
    })
    expect([alone.status, alone.body.error.code]).toEqual([422, 'firewall_managed_by_label_selector'])
    const missing = await api(h.sim, 'POST', `/firewalls/${id}/actions/remove_from_resources`, {
      remove_from: [{label_selector: {selector: 'other=1'}, type: 'label_selector'}],
    })
    expect([missing.status, missing.body.error.code]).toEqual([404, 'firewall_resource_not_found'])
    const removing = await api(h.sim, 'POST', `/firewalls/${id}/actions/remove_from_resources`, {remove_from: [selectorOf('f1')]})
    expect(removing.status).toBe(201)
    const locked = await api(h.sim, 'DELETE', `/firewalls/${id}`)
    expect([locked.status, locked.body.error.code]).toEqual([423, 'locked'])
    await new Promise((r) => setTimeout(r, 350))
    expect((await api(h.sim, 'GET', `/firewalls/${id}`)).body.firewall.applied_to).toEqual([])
    expect((await api(h.sim, 'DELETE', `/firewalls/${id}`)).status).toBe(204)
    expect((await api(h.sim, 'DELETE', `/firewalls/${id}`)).body.error.code).toBe('not_found')
  })

  test('Primary IPs: must_be_unassigned on delete while assigned; primary_ip_assigned when a server is created with one already assigned; server_not_stopped, server_has_ipv6', async () => {
    h = await harness({sim: {bootMs: 100}})
    const ip = (
      await api(h.sim, 'POST', '/primary_ips', {assignee_type: 'server', auto_delete: false, location: 'fsn1', name: 'ip1', type: 'ipv6'})
    ).body.primary_ip
    const server = {image: 'ubuntu-24.04', location: 'fsn1', server_type: 'cpx22'}
    expect(
      (await api(h.sim, 'POST', '/servers', {...server, name: 'a', public_net: {enable_ipv4: false, enable_ipv6: true, ipv6: ip.id}}))
        .status,
    ).toBe(201)
    const taken = await api(h.sim, 'POST', '/servers', {
      ...server,
      name: 'b',
      public_net: {enable_ipv4: false, enable_ipv6: true, ipv6: ip.id},
    })
    expect([taken.status, taken.body.error.code]).toEqual([422, 'primary_ip_assigned'])
    const held = await api(h.sim, 'DELETE', `/primary_ips/${ip.id}`)
    expect([held.status, held.body.error.code]).toEqual([422, 'must_be_unassigned'])
    const wrongFamily = await api(h.sim, 'POST', '/servers', {
      ...server,
      name: 'c',
      public_net: {enable_ipv4: true, enable_ipv6: false, ipv4: ip.id},
    })
    expect([wrongFamily.status, wrongFamily.body.error.code]).toEqual([412, 'primary_ip_version_mismatch'])
    // Creating one assigned to a server: it must be off (server_not_stopped) and have no address of that family (server_has_ipv6).
    const running = await api(h.sim, 'POST', '/servers', {...server, name: 'd', public_net: {enable_ipv4: false, enable_ipv6: true}})
    await until(() => h.sim.servers.get(running.body.server.id)?.status === 'running')
    const notStopped = await api(h.sim, 'POST', '/primary_ips', {
      assignee_id: running.body.server.id,
      assignee_type: 'server',
      name: 'ip2',
      type: 'ipv4',
    })
    expect([notStopped.status, notStopped.body.error.code]).toEqual([422, 'server_not_stopped'])
    const booting = await api(h.sim, 'POST', '/servers', {...server, name: 'e', public_net: {enable_ipv4: false, enable_ipv6: true}})
    const hasV6 = await api(h.sim, 'POST', '/primary_ips', {
      assignee_id: booting.body.server.id,
      assignee_type: 'server',
      name: 'ip3',
      type: 'ipv6',
    })
    expect([hasV6.status, hasV6.body.error.code]).toEqual([422, 'server_has_ipv6'])
  })

  test('Primary IP assign and unassign as the spec has them: server_not_stopped while the server runs; primary_ip_already_assigned to another server; server_has_ipv6; a server off takes and gives them', async () => {
    h = await harness({sim: {bootMs: 50}})
    const server = {image: 'ubuntu-24.04', location: 'fsn1', server_type: 'cpx22'}
    const ip = (
      await api(h.sim, 'POST', '/primary_ips', {assignee_type: 'server', auto_delete: false, location: 'fsn1', name: 'ipa', type: 'ipv6'})
    ).body.primary_ip
    const a = (
      await api(h.sim, 'POST', '/servers', {...server, name: 'a', public_net: {enable_ipv4: false, enable_ipv6: true, ipv6: ip.id}})
    ).body.server
    const b = (await api(h.sim, 'POST', '/servers', {...server, name: 'b', public_net: {enable_ipv4: false, enable_ipv6: false}})).body
      .server
    await until(() => h.sim.servers.get(a.id)?.status === 'running' && h.sim.servers.get(b.id)?.status === 'running')
    // unassign: only from a server that is off
    const running = await api(h.sim, 'POST', `/primary_ips/${ip.id}/actions/unassign`)
    expect([running.status, running.body.error.code]).toEqual([422, 'server_not_stopped'])
    // assign: to a server that is off, of an address no other server holds
    const toRunning = await api(h.sim, 'POST', `/primary_ips/${ip.id}/actions/assign`, {assignee_id: b.id, assignee_type: 'server'})
    expect([toRunning.status, toRunning.body.error.code]).toEqual([422, 'primary_ip_already_assigned'])
    expect((await api(h.sim, 'POST', `/servers/${b.id}/actions/poweroff`)).status).toBe(201)
    await until(() => h.sim.servers.get(b.id)?.status === 'off')
    const held = await api(h.sim, 'POST', `/primary_ips/${ip.id}/actions/assign`, {assignee_id: b.id, assignee_type: 'server'})
    expect([held.status, held.body.error.code]).toEqual([422, 'primary_ip_already_assigned'])
    const free = (
      await api(h.sim, 'POST', '/primary_ips', {assignee_type: 'server', auto_delete: false, location: 'fsn1', name: 'ipb', type: 'ipv6'})
    ).body.primary_ip
    const other = (
      await api(h.sim, 'POST', '/primary_ips', {assignee_type: 'server', auto_delete: false, location: 'fsn1', name: 'ipc', type: 'ipv6'})
    ).body.primary_ip
    const stillRunning = await api(h.sim, 'POST', `/primary_ips/${free.id}/actions/assign`, {assignee_id: a.id, assignee_type: 'server'})
    expect([stillRunning.status, stillRunning.body.error.code]).toEqual([422, 'server_not_stopped'])
    expect((await api(h.sim, 'POST', `/primary_ips/${free.id}/actions/assign`, {assignee_id: b.id, assignee_type: 'server'})).status).toBe(
      201,
    )
    await until(() => h.sim.primaryIps.get(free.id)?.assignee_id === b.id)
    const second = await api(h.sim, 'POST', `/primary_ips/${other.id}/actions/assign`, {assignee_id: b.id, assignee_type: 'server'})
    expect([second.status, second.body.error.code]).toEqual([422, 'server_has_ipv6'])
    // Off, the address comes free; then another server may be created with it.
    await until(() => !h.sim.actions.size || [...h.sim.actions.values()].every((x) => x.status !== 'running'))
    expect((await api(h.sim, 'POST', `/primary_ips/${free.id}/actions/unassign`)).status).toBe(201)
    await until(() => h.sim.primaryIps.get(free.id)?.assignee_id === null)
    expect(
      (await api(h.sim, 'POST', '/servers', {...server, name: 'c', public_net: {enable_ipv4: false, enable_ipv6: true, ipv6: free.id}}))
        .status,
    ).toBe(201)
    // PUT auto_delete: off, deleting the server leaves the address, unassigned.
    expect((await api(h.sim, 'PUT', `/primary_ips/${ip.id}`, {auto_delete: false})).body.primary_ip.auto_delete).toBe(false)
    expect((await api(h.sim, 'PUT', '/primary_ips/999999', {auto_delete: false})).status).toBe(404)
    expect(h.sim.violations).toEqual([])
  })

  test('replaceNode in the order the API allows: auto_delete off, shutdown (graceful), delete, create with the same Primary IPs, name and labels, auto_delete on', async () => {
    h = await harness({sim: {bootMs: 50}})
    const planted = await drivePlant(h.provider, {count: 3, forestId: 'forest-replace', ports: h.context.ports})
    expect([...planted.errors.values()]).toEqual([])
    const node = {...planted.nodes[1]}
    const oldServer = h.sim.servers.get(Number(node.provider_ref))!
    const ips = [oldServer.ipv4, oldServer.ipv6].filter((x) => x !== undefined).sort()
    const from = h.sim.requests.length
    const request = {
      cluster: true,
      clusterAuth: null,
      forest: planted.forest,
      natsMode: 'system' as const,
      node,
      peers: planted.nodes.filter((n) => n.id !== node.id),
      ports: h.context.ports,
      progress: () => undefined,
      signal: never(),
    }
    const made = await h.provider.replaceNode!({...request, graceful: true})
    expect([made.ip, made.ipv4, made.ipv6]).toEqual([node.ip, node.ipv4, node.ipv6])
    expect(h.sim.servers.has(oldServer.id)).toBe(false)
    const server = h.sim.servers.get(Number(made.provider_ref))!
    expect(server).toMatchObject({labels: oldServer.labels, name: oldServer.name, status: 'running'})
    expect([server.ipv4, server.ipv6].filter((x) => x !== undefined).sort()).toEqual(ips)
    for (const id of ips) expect(h.sim.primaryIps.get(id!)).toMatchObject({assignee_id: server.id, auto_delete: true})
    const calls = h.sim.requests
      .slice(from)
      .filter((r) => r.method !== 'GET')
      .map((r) => `${r.method} ${r.path.replace(/\/\d+/g, '/{id}')} ${r.status}`)
    expect(calls).toEqual([
      'PUT /primary_ips/{id} 200',
      'PUT /primary_ips/{id} 200',
      'POST /servers/{id}/actions/shutdown 201',
      'DELETE /servers/{id} 200',
      'POST /servers 201',
      'PUT /primary_ips/{id} 200',
      'PUT /primary_ips/{id} 200',
    ])
    // The old server's operating system stopped NATS as the unit says: lame duck (SIGUSR2), left by itself with 0.
    expect(h.sim.shutdowns).toEqual([expect.objectContaining({code: 0, result: 'exited', server: oldServer.id, signal: 'SIGUSR2'})])
    // Again (a re-run after Ctrl-C), not graceful: the same addresses on yet another server.
    const again = await h.provider.replaceNode!({...request, graceful: false, node: {...node, ...made}})
    expect(again.ip).toBe(node.ip)
    expect(h.sim.violations).toEqual([])
    await driveTeardown(h.provider, planted.forest, planted.nodes)
    expect(h.sim.paid()).toEqual({primaryIps: [], servers: []})
  })

  test('the request budget: RateLimit-Limit/Remaining/Reset on every answer, 429 rate_limit_exceeded once used up, one more request a refill', async () => {
    h = await harness({sim: {rateLimit: {limit: 3, refillPerSecond: 2}}})
    const remaining: string[] = []
    for (let i = 0; i < 3; i++) {
      const r = await api(h.sim, 'GET', '/locations')
      expect(r.status).toBe(200)
      expect(r.headers.get('RateLimit-Limit')).toBe('3')
      remaining.push(r.headers.get('RateLimit-Remaining')!)
    }
    expect(remaining).toEqual(['2', '1', '0'])
    const over = await api(h.sim, 'GET', '/locations')
    expect([over.status, over.body.error.code]).toEqual([429, 'rate_limit_exceeded'])
    const reset = Number(over.headers.get('RateLimit-Reset'))
    expect(reset * 1000).toBeGreaterThan(Date.now())
    expect(reset * 1000).toBeLessThanOrEqual(Date.now() + 2500)
    await new Promise((r) => setTimeout(r, 600))
    expect((await api(h.sim, 'GET', '/locations')).status).toBe(200)
  })
})

describe('what Morpheus does with each error', () => {
  let h: Harness
  afterEach(async () => {
    expect(h.sim.violations).toEqual([])
    expect(h.logs.join('\n')).not.toContain(TOKEN)
    await h.sim.stop()
  })

  test('resource_in_use: teardown removes the firewall from its label selector, waits for that, then deletes it; never refused', async () => {
    h = await harness({sim: {firewallMs: 400}})
    const result = await drivePlant(h.provider, {count: 2, forestId: 'forest-fw', ports: h.context.ports})
    expect([...result.errors.values()]).toEqual([])
    await driveTeardown(h.provider, result.forest, result.nodes)
    expect(h.sim.firewalls.size).toBe(0)
    expect(h.sim.paid()).toEqual({primaryIps: [], servers: []})
    const removal = h.sim.requests.findIndex((r) => /\/actions\/remove_from_resources$/.test(r.path) && r.status === 201)
    const deleted = h.sim.requests.findIndex((r) => r.method === 'DELETE' && /^\/firewalls\//.test(r.path) && r.status === 204)
    expect(removal).toBeGreaterThan(-1)
    expect(deleted).toBeGreaterThan(removal)
    // The action was waited for: the delete came after it finished, so it was neither in use nor locked.
    expect(answered(h.sim, 422)).toEqual([])
    expect(answered(h.sim, 423)).toEqual([])
  })

  test('a re-run converges: a firewall whose selector is already removed is deleted; one already gone is done; an entry gone meanwhile (firewall_resource_not_found) is read again', async () => {
    h = await harness()
    const forest = forestRecord('forest-again', 0, h.context.ports)
    const tearing = {...forest, status: 'tearing_down' as const}
    // Already emptied by an earlier run that stopped before the delete:
    const a = (
      await api(h.sim, 'POST', '/firewalls', {apply_to: [], labels: {'managed-by': 'morpheus', forest: forest.id}, name: 'a', rules: []})
    ).body.firewall
    await h.provider.destroyForest(tearing, never())
    expect(h.sim.firewalls.has(a.id)).toBe(false)
    expect(h.sim.count('POST', /remove_from_resources$/)).toBe(0)
    // Gone already (an orphan removed by someone else): fine.
    await h.provider.destroyOrphan({id: String(a.id), kind: 'firewall', name: 'a'}, never())
    // The selector removed by another run between our read and our removal: 404 firewall_resource_not_found, then resource_in_use is read again.
    const b = (
      await api(h.sim, 'POST', '/firewalls', {
        apply_to: [selectorOf(forest.id)],
        labels: {'managed-by': 'morpheus', forest: forest.id},
        name: 'b',
        rules: [],
      })
    ).body.firewall
    await new Promise((r) => setTimeout(r, 100))
    h.sim.faults.errors = [{code: 'firewall_resource_not_found', count: 1, match: /remove_from_resources$/}]
    await h.provider.destroyForest(tearing, never())
    expect(h.sim.firewalls.has(b.id)).toBe(false)
    expect(answered(h.sim, 404)).toContain('POST /firewalls/{id}/actions/remove_from_resources')
    expect(h.logs.join('\n')).toMatch(/firewall b \(\d+\) is still in use; removing what it is applied to again/)
  })

  test('firewall_managed_by_label_selector: an orphaned firewall whose selector still reaches a server loses the selector, not the server, and is deleted', async () => {
    h = await harness()
    const labels = {'managed-by': 'morpheus', forest: 'forest-gone'}
    const server = (
      await api(h.sim, 'POST', '/servers', {
        image: 'ubuntu-24.04',
        labels: {...labels, node: 'node-1'},
        location: 'fsn1',
        name: 'forest-gone-node-1',
        server_type: 'cpx22',
      })
    ).body.server
    const fw = (
      await api(h.sim, 'POST', '/firewalls', {apply_to: [selectorOf('forest-gone')], labels, name: 'morpheus-forest-gone', rules: []})
    ).body.firewall
    await until(() => h.sim.appliedTo(h.sim.firewalls.get(fw.id)!).length === 1)
    const found = await h.provider.orphans([], never())
    expect(found.map((o) => o.kind)).toEqual(['server', 'firewall'])
    // Only the firewall (as if the server's own removal had failed): the firewall must still go.
    await h.provider.destroyOrphan(
      found.find((o) => o.kind === 'firewall')!,
      never(),
    )
    expect(h.sim.firewalls.size).toBe(0)
    expect(h.sim.servers.has(server.id)).toBe(true)
    expect(answered(h.sim, 422)).toEqual([])
  })

  test('locked: a firewall still applying is waited out (423 retried with backoff); a locked server delete is retried too', async () => {
    h = await harness({sim: {firewallMs: 2000}})
    const result = await drivePlant(h.provider, {count: 1, forestId: 'forest-locked', ports: h.context.ports})
    expect([...result.errors.values()]).toEqual([])
    h.sim.faults.errors = [{code: 'locked', count: 2, match: /^DELETE \/servers\/\d+$/}]
    const tearing = {...result.forest, status: 'tearing_down' as const}
    await h.provider.destroyNode(result.nodes[0], tearing, never())
    // Someone changes the firewall's rules just before the forest-wide clean-up: its action runs for 2 s.
    // (destroyNode's own rule refresh may still be running on a loaded machine: that one is locked too, so wait it out first.)
    const [fw] = [...h.sim.firewalls.values()]
    let setRules = await api(h.sim, 'POST', `/firewalls/${fw.id}/actions/set_rules`, {rules: []})
    for (const deadline = Date.now() + 20_000; setRules.status === 423 && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      setRules = await api(h.sim, 'POST', `/firewalls/${fw.id}/actions/set_rules`, {rules: []})
    }
    expect(setRules.status).toBe(201)
    await h.provider.destroyForest(tearing, never())
    expect(h.sim.paid()).toEqual({primaryIps: [], servers: []})
    expect(h.sim.firewalls.size).toBe(0)
    expect(answered(h.sim, 423)).toContain('DELETE /servers/{id}')
    expect(answered(h.sim, 423)).toContain('POST /firewalls/{id}/actions/remove_from_resources')
    expect(h.logs.join('\n')).toMatch(/remove_from_resources: locked \(HTTP 423\); trying again in/)
  }, 90_000)

  test('rate_limit_exceeded from a used-up budget: waits until RateLimit-Reset, says why, and the plant succeeds', async () => {
    h = await harness({sim: {rateLimit: {limit: 4, refillPerSecond: 2}}})
    // Another tool of the project used the budget up just before.
    h.sim.budget.exhaust()
    const result = await drivePlant(h.provider, {count: 1, forestId: 'forest-budget', ports: h.context.ports})
    expect([...result.errors.values()]).toEqual([])
    expect(answered(h.sim, 429).length).toBeGreaterThan(0)
    expect(h.logs.join('\n')).toMatch(/rate limit reached on .*waiting \d+\.\ds until it resets \(RateLimit-Reset\)/)
    expect(h.sim.paid().servers).toEqual(['forest-budget-node-1'])
  }, 90_000)

  test('a rate limit that resets too late (beyond 15 minutes) fails at once with the code, not after an hour', async () => {
    h = await harness()
    h.sim.faults.rateLimit = {count: 1, resetSeconds: 3600}
    const started = Date.now()
    const error = await rejection(h.provider.preflight(never()))
    expect(error.message).toMatch(/rate_limit_exceeded \(HTTP 429\)/)
    expect(error.hint).toMatch(/3600 an hour/)
    expect(Date.now() - started).toBeLessThan(5000)
  })

  test('conflict (409) and service_error (422) are tried again with backoff, and the plant succeeds', async () => {
    h = await harness()
    h.sim.faults.errors = [
      {code: 'conflict', count: 2, match: /^POST \/servers$/},
      {code: 'service_error', count: 1, match: /^POST \/primary_ips$/},
    ]
    const result = await drivePlant(h.provider, {count: 1, forestId: 'forest-conflict', ports: h.context.ports})
    expect([...result.errors.values()]).toEqual([])
    expect(h.sim.count('POST', /^\/servers$/)).toBe(3)
    expect(h.logs.join('\n')).toMatch(/POST \/servers: conflict \(HTTP 409\); trying again in .*\(try 2 of 5\)/)
    expect(h.logs.join('\n')).toMatch(/POST \/primary_ips: service_error \(HTTP 422\); trying again/)
  }, 90_000)

  test('a service_error that does not pass gives up after 5 tries with the code and a hint', async () => {
    h = await harness()
    h.sim.faults.errors = [{code: 'service_error', count: 100, match: /^GET \/server_types$/}]
    const error = await rejection(h.provider.preflight(never()))
    expect(error.code).toBe('FAILED')
    expect(error.message).toMatch(/GET \/server_types.*: service_error \(HTTP 422\)/)
    expect(error.hint).toMatch(/internal error/)
    expect(h.sim.count('GET', /^\/server_types$/)).toBe(5)
  }, 90_000)

  test("an error that is not Hetzner's to retry fails at once, clearly: maintenance (403)", async () => {
    h = await harness()
    h.sim.faults.errors = [{code: 'maintenance', count: 1, match: /^GET \/server_types$/}]
    const error = await rejection(h.provider.preflight(never()))
    expect(error.message).toMatch(/maintenance \(HTTP 403\)/)
    expect(error.hint).toMatch(/maintenance/)
    expect(h.sim.count('GET', /^\/server_types$/)).toBe(1)
  })

  test('placement_error in one location: the next configured location is used, and said so', async () => {
    h = await harness({config: {locations: ['nbg1']}})
    h.sim.faults.placementErrorIn = ['fsn1']
    const result = await drivePlant(h.provider, {count: 1, forestId: 'forest-place', ports: h.context.ports})
    expect([...result.errors.values()]).toEqual([])
    expect([...h.sim.servers.values()].map((s) => s.location)).toEqual(['nbg1'])
    expect(h.logs.join('\n')).toMatch(/cpx22 in fsn1 is not available \(placement_error\); trying cpx22 in nbg1/)
    expect(answered(h.sim, 422)).toEqual(['POST /servers'])
  })

  test('primary_ip_assigned: a node whose address another server holds fails clearly; that address is not taken from it (must_be_unassigned is reported, not fatal)', async () => {
    h = await harness()
    const forestId = 'forest-held'
    const {ip, server: holder} = await heldAddress(
      h.sim,
      {'managed-by': 'morpheus', forest: forestId, node: 'node-1', role: 'edge'},
      'held-v6',
      'someone-else',
    )
    const result = await drivePlant(h.provider, {count: 1, forestId, ports: h.context.ports})
    const error = result.errors.get('node-1') as any
    expect(error.code).toBe('FAILED')
    expect(error.message).toMatch(/POST \/servers: primary_ip_assigned \(HTTP 422\)/)
    expect(error.hint).toMatch(/unassign it/)
    expect(h.sim.primaryIps.get(ip.id)?.assignee_id).toBe(holder.id)
    expect(h.logs.join('\n')).toMatch(/node-1: could not remove everything this run made for it \(.*must_be_unassigned/)
  })

  test("primary_ip_datacenter_mismatch never happens: a node's addresses left in another location by an earlier run are replaced by new ones in the server's location first", async () => {
    h = await harness()
    const forestId = 'forest-moved'
    const labels = {'managed-by': 'morpheus', forest: forestId, node: 'node-1', role: 'edge'}
    const old = (
      await api(h.sim, 'POST', '/primary_ips', {
        assignee_type: 'server',
        auto_delete: true,
        labels,
        location: 'nbg1',
        name: `${forestId}-node-1-v6`,
        type: 'ipv6',
      })
    ).body.primary_ip
    const result = await drivePlant(h.provider, {count: 1, forestId, ports: h.context.ports})
    expect([...result.errors.values()]).toEqual([])
    expect(answered(h.sim, 422)).toEqual([])
    expect(h.sim.primaryIps.has(old.id)).toBe(false)
    const [server] = [...h.sim.servers.values()]
    expect(server.location).toBe('fsn1')
    expect(h.sim.primaryIps.get(server.ipv6!)?.location).toBe('fsn1')
  })

  test('must_be_unassigned at teardown: fails clearly naming the address; once it is free, a re-run finishes', async () => {
    h = await harness()
    const result = await drivePlant(h.provider, {count: 1, forestId: 'forest-unassign', ports: h.context.ports})
    expect([...result.errors.values()]).toEqual([])
    // An address of the forest that a server outside the forest holds (put there by hand).
    const {ip, server: other} = await heldAddress(h.sim, {'managed-by': 'morpheus', forest: 'forest-unassign'}, 'by-hand', 'outside')
    const error = await rejection(driveTeardown(h.provider, result.forest, result.nodes))
    expect(error.message).toMatch(
      /DELETE \/primary_ips\/\d+: must_be_unassigned \(HTTP 422\): Primary IP with ID \d+ is still assigned to server \d+/,
    )
    expect(error.message).toContain(`DELETE /primary_ips/${ip.id}:`)
    expect(error.hint).toMatch(/Unassign/)
    expect(h.sim.servers.has(other.id)).toBe(true)
    await api(h.sim, 'DELETE', `/servers/${other.id}`)
    await until(() => !h.sim.servers.has(other.id))
    await driveTeardown(h.provider, result.forest, [])
    expect(h.sim.paid()).toEqual({primaryIps: [], servers: []})
    expect(h.sim.firewalls.size).toBe(0)
  })
})
