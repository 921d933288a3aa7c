import type {ChildProcess} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {createServer as createHttpServer, type Server as HttpServer} from 'node:http'
import {createServer as createNetServer, type Server as NetServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {isFormed, type NodeHealth, probeAll, probeNode} from '../../../src/monitor/nats.js'
import {freePort, startNats} from '../../helpers/nats.js'

const healthy = (leader: string | undefined, routes: number): NodeHealth => ({
  healthy: true,
  jetstream_leader: leader,
  reachable: true,
  routes,
})

describe('isFormed', () => {
  test('no nodes is not formed', () => {
    expect(isFormed([])).toBe(false)
  })

  test('one node is formed when healthy (standalone JetStream has no meta leader)', () => {
    expect(isFormed([healthy(undefined, 0)])).toBe(true)
    expect(isFormed([{...healthy(undefined, 0), healthy: false}])).toBe(false)
  })

  test('three nodes: healthy, routed to the two others, one shared leader', () => {
    expect(isFormed([healthy('n1', 2), healthy('n1', 2), healthy('n1', 2)])).toBe(true)
    expect(isFormed([healthy('n1', 2), healthy('n1', 3), healthy('n1', 2)])).toBe(true)
  })

  test('three nodes: any gap means not formed', () => {
    expect(isFormed([healthy('n1', 2), healthy('n1', 1), healthy('n1', 2)])).toBe(false)
    expect(isFormed([healthy('n1', 2), healthy('n2', 2), healthy('n1', 2)])).toBe(false)
    expect(isFormed([healthy(undefined, 2), healthy(undefined, 2), healthy(undefined, 2)])).toBe(false)
    expect(isFormed([healthy('n1', 2), healthy(undefined, 2), healthy('n1', 2)])).toBe(false)
    expect(isFormed([healthy('n1', 2), {...healthy('n1', 2), healthy: false}, healthy('n1', 2)])).toBe(false)
  })
})

/** A random loopback address, so parallel runs and real forests never collide. */
const randomLoopback = () =>
  `127.${100 + Math.floor(Math.random() * 150)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`

describe('probeNode against a real nats-server', () => {
  const host = randomLoopback()
  let monitorUrl: string
  let nats: ChildProcess
  let dir: string
  const name = `probe-${process.pid}`

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'morpheus-monitor-'))
    const started = await startNats(host, dir, name)
    nats = started.child
    monitorUrl = started.monitor
  })

  afterAll(async () => {
    if (nats?.pid && nats.exitCode === null) {
      const exited = new Promise((resolve) => nats.once('exit', resolve))
      process.kill(nats.pid, 'SIGTERM')
      await exited
    }
    rmSync(dir, {force: true, recursive: true})
  })

  test('a running server is reachable and healthy, with its name and version', async () => {
    const h = await probeNode(monitorUrl)
    expect(h.reachable).toBe(true)
    expect(h.healthy).toBe(true)
    expect(h.server_name).toBe(name)
    expect(h.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(h.routes).toBe(0)
    expect(h.error).toBeUndefined()
    expect(isFormed([h])).toBe(true)
  })

  test('probeAll keeps the order of the urls', async () => {
    const dead = `http://${host}:${await freePort(host)}`
    const [a, b, c] = await probeAll([dead, monitorUrl, dead], 2000)
    expect([a.reachable, b.reachable, c.reachable]).toEqual([false, true, false])
    expect(b.server_name).toBe(name)
  })

  test('an address where nothing listens is unreachable, with the error', async () => {
    const other = randomLoopback()
    const h = await probeNode(`http://${other}:${await freePort(other)}`, 2000)
    expect(h).toEqual({error: 'connection refused', healthy: false, reachable: false, routes: 0})
    expect(isFormed([h])).toBe(false)
  })
})

describe('probeNode against servers that misbehave', () => {
  const host = randomLoopback()
  let silent: NetServer
  const sockets: Array<{destroy(): void}> = []
  let failing: HttpServer
  let silentUrl: string
  let failingUrl: string

  beforeAll(async () => {
    // Accepts connections and never answers.
    silent = createNetServer((socket) => sockets.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, host, resolve))
    silentUrl = `http://${host}:${(silent.address() as {port: number}).port}`
    // Answers /healthz with 503, as NATS does while JetStream is not current.
    failing = createHttpServer((req, res) => {
      res.writeHead(req.url === '/healthz' ? 503 : 200, {'content-type': 'application/json'})
      res.end(
        req.url === '/healthz'
          ? '{"status":"unavailable","error":"JetStream not current"}'
          : '{"server_name":"x","routes":2,"jetstream":{"meta":{"leader":"","cluster_size":3}}}',
      )
    })
    await new Promise<void>((resolve) => failing.listen(0, host, resolve))
    failingUrl = `http://${host}:${(failing.address() as {port: number}).port}`
  })

  afterAll(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => silent.close(resolve))
    failing.closeAllConnections()
    await new Promise((resolve) => failing.close(resolve))
  })

  test('a server that never answers times out', async () => {
    const started = Date.now()
    const h = await probeNode(silentUrl, 300)
    expect(h).toEqual({error: 'timed out', healthy: false, reachable: false, routes: 0})
    expect(Date.now() - started).toBeLessThan(3000)
  })

  test('a 503 from /healthz is reachable but not healthy, with its error; an empty leader is no leader', async () => {
    const h = await probeNode(failingUrl)
    expect(h.reachable).toBe(true)
    expect(h.healthy).toBe(false)
    expect(h.error).toBe('JetStream not current')
    expect(h.routes).toBe(2)
    expect(h.jetstream_leader).toBeUndefined()
    expect(h.jetstream_cluster_size).toBe(3)
  })
})
