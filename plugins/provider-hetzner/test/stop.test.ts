import {connect} from '@nats-io/transport-node'

import {drivePlant, driveTeardown} from '../../../test/fixtures/hetzner-sim/drive.js'
import {rejection} from '../../../test/helpers/unit.js'
import {harness, randomPorts, TOKEN, type Harness} from './helpers.js'

// stopNode (shrink's lame duck step on Hetzner) through the simulator, whose servers run the user data's real
// nats-server and whose `shutdown` is an ACPI request: the action only says it was sent, then the operating system
// stops nats.service as its unit says (KillSignal, TimeoutStopSec) and the server goes off.
const never = () => new AbortController().signal

/** The non-GET calls since `from`, as "METHOD /path-template status". */
function calls(h: Harness, from: number): string[] {
  return h.sim.requests
    .slice(from)
    .filter((r) => r.method !== 'GET')
    .map((r) => `${r.method} ${r.path.replace(/\/\d+/g, '/{id}')} ${r.status}`)
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, {signal: AbortSignal.timeout(500)})).ok
  } catch {
    return false
  }
}

describe('hetzner stopNode against the simulator', () => {
  let h: Harness
  afterEach(async () => {
    expect(h.sim.violations).toEqual([])
    await h.sim.stop()
  })

  test('a graceful shutdown: NATS stops in lame duck mode (its client is told), the server is waited for until off; again is a no-op; then destroyNode leaves nothing', async () => {
    const ports = randomPorts()
    h = await harness({ports, sim: {bootMs: 100, firewallMs: 50}})
    const planted = await drivePlant(h.provider, {count: 3, forestId: 'forest-stop', ports})
    expect([...planted.errors.values()]).toEqual([])
    const node = planted.nodes[2]
    const server = h.sim.servers.get(Number(node.provider_ref))!
    const monitor = `http://${node.ipv4}:${ports.monitor}/healthz`
    for (let i = 0; i < 100 && !(await answers(monitor)); i++) await new Promise((r) => setTimeout(r, 100))
    expect(await answers(monitor)).toBe(true)
    // A client of that node's NATS, as NimsForest or an app on it would be.
    // (Only that server: it must not move to the others the cluster tells it about.)
    const nc = await connect({ignoreClusterUpdates: true, maxReconnectAttempts: 0, servers: `nats://${node.ipv4}:${ports.client}`})
    const events: string[] = []
    void (async () => {
      for await (const s of nc.status()) events.push(s.type)
    })()

    const from = h.sim.requests.length
    await h.provider.stopNode!({...node}, planted.forest, never())
    // Resolved only once the server is off (the action alone says only that the request was sent).
    expect(server.status).toBe('off')
    expect(calls(h, from)).toEqual(['POST /servers/{id}/actions/shutdown 201'])
    expect(h.sim.shutdowns).toEqual([
      // The unit's KillSignal (lame duck mode); nats-server left by itself with status 0, within its TimeoutStopSec.
      {code: 0, ms: expect.any(Number), name: server.name, result: 'exited', server: server.id, signal: 'SIGUSR2'},
    ])
    await nc.closed()
    // Told it was in lame duck mode before it was closed.
    expect(events).toContain('ldm')
    expect(events.indexOf('ldm')).toBeLessThan(events.indexOf('disconnect'))
    expect(await answers(monitor)).toBe(false)
    // The other nodes run on.
    for (const n of planted.nodes.slice(0, 2)) expect(h.sim.servers.get(Number(n.provider_ref))?.status).toBe('running')

    // Idempotent: a server already off is not shut down again.
    const again = h.sim.requests.length
    await h.provider.stopNode!({...node}, planted.forest, never())
    expect(calls(h, again)).toEqual([])

    // shrink's last step: the machine and its addresses go.
    await h.provider.destroyNode({...node}, {...planted.forest, status: 'active'}, never())
    expect(h.sim.servers.has(server.id)).toBe(false)
    expect([...h.sim.primaryIps.values()].filter((p) => p.labels.node === node.id)).toEqual([])
    // A server that is gone: nothing to stop, no error.
    const gone = h.sim.requests.length
    await h.provider.stopNode!({...node}, planted.forest, never())
    expect(calls(h, gone)).toEqual([])
    await driveTeardown(h.provider, planted.forest, planted.nodes.slice(0, 2))
    expect(h.sim.paid()).toEqual({primaryIps: [], servers: []})
  }, 60_000)

  test('an operating system that ignores the shutdown: powered off after shutdown_timeout_seconds, with a warning naming the server; the token nowhere', async () => {
    const ports = randomPorts()
    h = await harness({config: {shutdown_timeout_seconds: 1}, ports, sim: {bootMs: 50, firewallMs: 20}})
    const planted = await drivePlant(h.provider, {count: 1, forestId: 'forest-acpi', ports})
    const [node] = planted.nodes
    const server = h.sim.servers.get(Number(node.provider_ref))!
    h.sim.faults.ignoreShutdown = 1
    const from = h.sim.requests.length
    const started = Date.now()
    await h.provider.stopNode!({...node}, planted.forest, never())
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
    expect(server.status).toBe('off')
    expect(calls(h, from)).toEqual(['POST /servers/{id}/actions/shutdown 201', 'POST /servers/{id}/actions/poweroff 201'])
    expect(h.sim.shutdowns).toEqual([])
    const warning = h.logs.find((l) => /did not shut down within 1s/.test(l))
    expect(warning).toContain(server.name)
    expect(warning).toContain('powering it off')
    expect(h.logs.join('\n')).not.toContain(TOKEN)
    await driveTeardown(h.provider, planted.forest, planted.nodes)
  }, 30_000)

  test('an API error is the error, with its code and without the token; Ctrl-C while waiting stops the wait and powers nothing off', async () => {
    const ports = randomPorts()
    h = await harness({config: {shutdown_timeout_seconds: 30}, ports, sim: {bootMs: 50, firewallMs: 20}})
    const planted = await drivePlant(h.provider, {count: 1, forestId: 'forest-stop-errors', ports})
    const [node] = planted.nodes
    const server = h.sim.servers.get(Number(node.provider_ref))!
    // An error before the shutdown was sent (reading the server): nothing is done, the error says so.
    h.sim.faults.errors = [{code: 'forbidden', count: 1, match: /^GET \/servers\/\d+$/}]
    const error = await rejection(h.provider.stopNode!({...node}, planted.forest, never()))
    expect(error.message).toMatch(/forbidden \(HTTP 403\)/)
    expect(error.message).not.toContain(TOKEN)
    expect(server.status).toBe('running')

    h.sim.faults.ignoreShutdown = 1
    const controller = new AbortController()
    const from = h.sim.requests.length
    const stopping = rejection(h.provider.stopNode!({...node}, planted.forest, controller.signal))
    for (let i = 0; i < 100 && calls(h, from).length === 0; i++) await new Promise((r) => setTimeout(r, 20))
    controller.abort()
    const aborted = await stopping
    expect(aborted).toBeDefined()
    expect(calls(h, from)).toEqual(['POST /servers/{id}/actions/shutdown 201'])
    expect(server.status).toBe('running')
    await driveTeardown(h.provider, planted.forest, planted.nodes)
    expect(h.sim.paid()).toEqual({primaryIps: [], servers: []})
  }, 30_000)
})
