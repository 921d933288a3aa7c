import type {ChildProcess} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {createServer as createHttpServer, type Server as HttpServer} from 'node:http'
import {createServer as createNetServer, type Server as NetServer, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {monitorUrl, sampleAll, sampleNode} from '../../../src/monitor/nats.js'
import {freePort, startNats} from '../../helpers/nats.js'

/** grow's own test range: 127.0.90.0/24. */
const myAddress = () => `127.0.90.${2 + Math.floor(Math.random() * 250)}`

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child?.pid || child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  process.kill(child.pid, 'SIGTERM')
  await exited
}

test('monitorUrl puts IPv6 addresses in brackets', () => {
  expect(monitorUrl('10.0.0.1', 8222)).toBe('http://10.0.0.1:8222')
  expect(monitorUrl('2a01:4f8:c012:abc::1', 8222)).toBe('http://[2a01:4f8:c012:abc::1]:8222')
  expect(monitorUrl('[::1]', 8222)).toBe('http://[::1]:8222')
})

describe('sampleNode against real nats-server, over IPv4 and IPv6', () => {
  let dir: string
  const servers: ChildProcess[] = []
  let v4 = ''
  let v6 = ''
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'morpheus-sample-'))
    const a = await startNats(myAddress(), dir, `v4-${process.pid}`)
    const b = await startNats('::1', dir, `v6-${process.pid}`)
    servers.push(a.child, b.child)
    v4 = a.monitor
    v6 = b.monitor
  })
  afterAll(async () => {
    for (const s of servers) await stop(s)
    rmSync(dir, {force: true, recursive: true})
  })

  test('an IPv4 node answers all four endpoints', async () => {
    const s = await sampleNode(v4)
    expect(s).toMatchObject({healthy: true, reachable: true, url: v4})
    expect(s.varz?.server_name).toBe(`v4-${process.pid}`)
    expect(s.varz?.cores).toBeGreaterThan(0)
    expect(typeof s.varz?.cpu).toBe('number')
    expect(s.varz?.mem).toBeGreaterThan(1_000_000)
    expect(s.routez?.num_routes).toBe(0)
    expect(s.jsz?.config?.max_storage).toBeGreaterThan(0)
    expect(s.jsz?.storage).toBe(0)
    expect(s.error).toBeUndefined()
    expect(s.health_error).toBeUndefined()
  })

  test('an IPv6 node is reached at http://[::1]:port', async () => {
    expect(v6).toMatch(/^http:\/\/\[::1\]:\d+$/)
    const s = await sampleNode(v6)
    expect(s.reachable).toBe(true)
    expect(s.healthy).toBe(true)
    expect(s.varz?.server_name).toBe(`v6-${process.pid}`)
  })

  test('sampleAll keeps the order and reports the dead node beside the live ones', async () => {
    const host = myAddress()
    const dead = monitorUrl(host, await freePort(host))
    const [a, b, c] = await sampleAll([v6, dead, v4], {timeoutMs: 2000})
    expect([a.reachable, b.reachable, c.reachable]).toEqual([true, false, true])
    expect(b.error).toBe('connection refused')
    expect(b.varz).toBeUndefined()
  })
})

describe('sampleNode against servers that misbehave', () => {
  const host = myAddress()
  const sockets: Socket[] = []
  let silent: NetServer
  let slow: HttpServer
  let partial: HttpServer
  let silentUrl = ''
  let slowUrl = ''
  let partialUrl = ''
  const slowRequests: string[] = []

  beforeAll(async () => {
    silent = createNetServer((socket) => sockets.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, host, resolve))
    silentUrl = monitorUrl(host, (silent.address() as {port: number}).port)
    // Answers every endpoint after 300 ms.
    slow = createHttpServer((req, res) => {
      slowRequests.push(req.url ?? '')
      setTimeout(() => res.end(req.url === '/healthz' ? '{"status":"ok"}' : '{"cpu":50,"cores":2,"mem":1000,"routes":1}'), 300)
    })
    await new Promise<void>((resolve) => slow.listen(0, host, resolve))
    slowUrl = monitorUrl(host, (slow.address() as {port: number}).port)
    // /varz works; /healthz 503; /jsz 500; /routez is not JSON.
    partial = createHttpServer((req, res) => {
      if (req.url === '/varz') return void res.end('{"cpu":10,"cores":1,"mem":5,"routes":2}')
      if (req.url === '/healthz') return void res.writeHead(503).end('{"status":"unavailable","error":"JetStream not current"}')
      if (req.url === '/jsz') return void res.writeHead(500).end('boom')
      res.end('not json')
    })
    await new Promise<void>((resolve) => partial.listen(0, host, resolve))
    partialUrl = monitorUrl(host, (partial.address() as {port: number}).port)
  })

  afterAll(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => silent.close(resolve))
    for (const s of [slow, partial]) {
      s.closeAllConnections()
      await new Promise((resolve) => s.close(resolve))
    }
  })

  test('a node that never answers times out within its own timeout and does not throw', async () => {
    const started = Date.now()
    const s = await sampleNode(silentUrl, {timeoutMs: 250})
    expect(s).toMatchObject({error: 'timed out', healthy: false, reachable: false})
    expect(Date.now() - started).toBeLessThan(2000)
  })

  test('the four requests run in parallel: a node answering each after 300 ms takes about 300 ms, not 1200', async () => {
    slowRequests.length = 0
    const s = await sampleNode(slowUrl, {timeoutMs: 3000})
    expect(s.reachable).toBe(true)
    expect(slowRequests.sort()).toEqual(['/healthz', '/jsz', '/routez', '/varz'])
    expect(s.ms).toBeGreaterThanOrEqual(290)
    expect(s.ms).toBeLessThan(1100)
  })

  test('nodes are sampled in parallel: eight slow nodes take about as long as one', async () => {
    const started = Date.now()
    const all = await sampleAll(
      Array.from({length: 8}, () => slowUrl),
      {timeoutMs: 3000},
    )
    expect(all.every((s) => s.reachable)).toBe(true)
    expect(Date.now() - started).toBeLessThan(1500)
  })

  test('a per-node timeout shorter than the answer makes the node unreachable, not the call fail', async () => {
    const [s, t] = await sampleAll([slowUrl, silentUrl], {timeoutMs: 100})
    expect(s).toMatchObject({error: 'timed out', reachable: false})
    expect(t).toMatchObject({error: 'timed out', reachable: false})
  })

  test('an abort signal ends the sample at once', async () => {
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 50)
    const started = Date.now()
    const s = await sampleNode(silentUrl, {signal: controller.signal, timeoutMs: 5000})
    expect(s.reachable).toBe(false)
    expect(Date.now() - started).toBeLessThan(1000)
  })

  test('a node answering /varz but failing the others is reachable, unhealthy, with what it did answer', async () => {
    const s = await sampleNode(partialUrl)
    expect(s.reachable).toBe(true)
    expect(s.healthy).toBe(false)
    expect(s.health_error).toBe('JetStream not current')
    expect(s.varz).toEqual({cores: 1, cpu: 10, mem: 5, routes: 2})
    expect(s.jsz).toBeUndefined()
    expect(s.routez).toEqual({})
  })
})
