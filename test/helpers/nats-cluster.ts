// Real nats-server clusters for tests, each server's nats.conf rendered from the template forest
// nodes use (templates/nats.conf.hbs): route credentials, and the system-account user when given.
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import type {ClusterAuth} from '../../src/plugin-api/index.js'
import {createRenderer} from '../../src/templates/render.js'

export interface TestServer {
  name: string
  ip: string
  client: string
  monitor: string
  child?: ChildProcess
  conf: string
}

export interface TestCluster {
  servers: TestServer[]
  clients: string[]
  /** (Re)write a server's nats.conf (peers: every server of the cluster but itself) and start it. */
  start(server: TestServer, options?: {cluster?: boolean; systemUser?: ClusterAuth | null}): Promise<void>
  stop(server: TestServer, signal?: NodeJS.Signals): Promise<void>
  close(): Promise<void>
}

const PORTS = {client: 4222, cluster: 6222, monitor: 8222}

/** A random 127.x.y.0/24 base so clusters of tests running side by side never share addresses. */
export function loopbackBase(): string {
  return `127.${10 + Math.floor(Math.random() * 240)}.${Math.floor(Math.random() * 250)}`
}

export async function waitHealthy(monitor: string, timeoutMs = 20_000, query = ''): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if ((await fetch(`${monitor}/healthz${query}`, {signal: AbortSignal.timeout(1000)})).ok) return
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${monitor} did not become healthy`)
    await sleep(100)
  }
}

/** A meta leader every answering server agrees on. */
export async function waitMetaLeader(servers: readonly TestServer[], timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const leaders = await Promise.all(
      servers.map(async (s) => {
        try {
          const jsz = (await (await fetch(`${s.monitor}/jsz`, {signal: AbortSignal.timeout(1000)})).json()) as {
            meta_cluster?: {leader?: string}
          }
          return jsz.meta_cluster?.leader ?? ''
        } catch {
          return ''
        }
      }),
    )
    if (leaders[0] && leaders.every((l) => l === leaders[0])) return leaders[0]
    if (Date.now() > deadline) throw new Error(`no meta leader agreed on: ${leaders.join(',')}`)
    await sleep(200)
  }
}

/**
 * `count` servers node-1..node-N on <base>.1..N with the forest's ports, JetStream under `dir`,
 * clustered (count > 1) with route credentials; with `systemUser`, the system account too.
 */
export async function startCluster(
  dir: string,
  count: number,
  options: {systemUser?: ClusterAuth | null; base?: string; forest?: string} = {},
): Promise<TestCluster> {
  const renderer = await createRenderer()
  const base = options.base ?? loopbackBase()
  const forest = {id: options.forest ?? 'forest-test'}
  const auth = {password: 'route-secret', user: 'morpheus-route'}
  const servers: TestServer[] = Array.from({length: count}, (_, i) => {
    const ip = `${base}.${i + 1}`
    return {
      client: `nats://${ip}:${PORTS.client}`,
      conf: join(dir, `node-${i + 1}`, 'nats.conf'),
      ip,
      monitor: `http://${ip}:${PORTS.monitor}`,
      name: `node-${i + 1}`,
    }
  })
  const cluster: TestCluster = {
    clients: servers.map((s) => s.client),
    async close() {
      await Promise.all(servers.map((s) => cluster.stop(s, 'SIGKILL')))
    },
    servers,
    async start(server, startOptions = {}) {
      const home = join(dir, server.name)
      mkdirSync(join(home, 'jetstream'), {recursive: true})
      const peers = servers.filter((s) => s !== server).map((s) => ({id: s.name, ip: s.ip}))
      const conf = renderer.natsConfig({
        bind: {client: server.ip, cluster: server.ip, monitor: server.ip},
        cluster: startOptions.cluster ?? servers.length > 1,
        cluster_auth: auth,
        files: {log: join(home, 'nats.log'), pid: join(home, 'nats.pid'), store_dir: join(home, 'jetstream')},
        forest,
        node: {id: server.name, ip: server.ip},
        peers,
        ports: PORTS,
        system_user: startOptions.systemUser === undefined ? (options.systemUser ?? null) : startOptions.systemUser,
      })
      writeFileSync(server.conf, conf, {mode: 0o600})
      server.child = spawn('nats-server', ['-c', server.conf], {stdio: 'ignore'})
      await waitHealthy(server.monitor)
    },
    async stop(server, signal = 'SIGTERM') {
      const child = server.child
      if (!child || child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill(signal)
      await exited
      server.child = undefined
    },
  }
  await Promise.all(servers.map((s) => cluster.start(s)))
  if (count > 1) await waitMetaLeader(servers)
  return cluster
}
