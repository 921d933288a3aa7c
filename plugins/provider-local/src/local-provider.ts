import {spawn} from 'node:child_process'
import {accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, rmdirSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {totalmem} from 'node:os'
import {delimiter, join, resolve} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import type {CreatedNode, CreateNodeRequest, ForestRecord, NatsPorts, NodeEndpoints, NodeRecord, NodeReservation, PluginContext, Provider, ProviderNode, ReserveRequest} from 'morpheus/plugin-api'

import {pickAddresses} from './addresses.js'

interface NodeFile {
  id: string
  forest_id: string
  ip: string
  pid: number
  binary: string
  mode: 'system' | 'embedded'
  started_at: string
}

const MARKER = 'MORPHEUS_NODE_DIR'

function findOnPath(name: string): string | undefined {
  if (name.includes('/')) return existsSync(name) ? resolve(name) : undefined
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // keep looking
    }
  }
  return undefined
}

/** Is the process running? A zombie (exited, not yet reaped by its parent) is not. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..." where S is the state; comm may hold spaces or parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    // No /proc (not Linux) or the process just went away: trust the signal check.
    return !existsSync('/proc/self/stat')
  }
}

/** Is `pid` really the process started for `dir`? (its environment carries the node's marker) */
export function isNodeProcess(pid: number, dir: string): boolean {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')
    return environ.includes(`${MARKER}=${dir}`)
  } catch {
    return false
  }
}

async function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer()
    server.once('error', () => done(false))
    server.listen(port, host, () => server.close(() => done(true)))
  })
}

export class LocalProvider implements Provider {
  readonly name = 'local'
  private readonly dataDir: string
  private binary?: string
  /** embedded (NimsForest) when providers.local.nimsforest_binary is set, else system (nats-server). */
  readonly natsMode: 'system' | 'embedded'
  private onDisk = new Set<string>()

  constructor(private readonly context: PluginContext) {
    const c = context.config
    this.dataDir = context.resolvePath(String(c.data_dir))
    this.natsMode = c.nimsforest_binary ? 'embedded' : 'system'
  }

  private get config() {
    return this.context.config as {first_address: string; nats_server: string; nimsforest_binary: string; start_timeout_seconds: number; stop_timeout_seconds: number}
  }

  async preflight(): Promise<void> {
    if (this.natsMode === 'embedded') {
      const bin = this.config.nimsforest_binary
      const found = findOnPath(bin)
      if (!found) throw this.context.error('PREREQUISITE', `the NimsForest binary "${bin}" (providers.local.nimsforest_binary) was not found`, 'Point providers.local.nimsforest_binary at the binary, or unset it to run nats-server.')
      this.binary = found
    } else {
      const bin = this.config.nats_server
      const found = findOnPath(bin)
      if (!found) {
        throw this.context.error('PREREQUISITE', `nats-server was not found ("${bin}" is not on PATH)`, 'Install it: `sudo apt-get install nats-server` on Debian/Ubuntu (or download it from the NATS releases), or set providers.local.nats_server to its path.')
      }
      this.binary = found
    }
    // Addresses held by node directories on disk count as taken, even if the registry forgot them,
    // and so do the next addresses where something else already listens on one of the ports.
    this.onDisk = new Set(this.scan().map((n) => n.ip))
    for (const ip of await this.busyAddresses(this.onDisk)) this.onDisk.add(ip)
  }

  /** Of the first candidate addresses, those where another process holds one of the node ports. */
  private async busyAddresses(skip: ReadonlySet<string>): Promise<string[]> {
    const candidates = pickAddresses(this.config.first_address, 64, skip)
    const ports = [this.context.ports.client, this.context.ports.cluster, this.context.ports.monitor]
    const busy: string[] = []
    for (const ip of candidates) {
      for (const port of ports) {
        if (!(await portFree(ip, port))) {
          busy.push(ip)
          break
        }
      }
    }
    return busy
  }

  reserve(request: ReserveRequest): NodeReservation[] {
    const taken = new Set([...this.onDisk, ...request.existing.map((n) => n.ip)])
    const ips = pickAddresses(this.config.first_address, request.count, taken)
    return request.ids.map((id, i) => ({id, ip: ips[i], ipv4: ips[i], provider_ref: this.nodeDir(request.forest.id, id)}))
  }

  private nodeDir(forestId: string, nodeId: string): string {
    return join(this.dataDir, forestId, nodeId)
  }

  async createNode(request: CreateNodeRequest): Promise<CreatedNode> {
    const {forest, node, peers, ports} = request
    if (!this.binary) await this.preflight()
    const ip = node.ip
    for (const port of [ports.client, ports.cluster, ports.monitor]) {
      if (!(await portFree(ip, port))) throw this.context.error('FAILED', `${ip}:${port} is already in use by another process`, 'Stop that process, or move local nodes elsewhere with providers.local.first_address.')
    }
    const dir = this.nodeDir(forest.id, node.id)
    mkdirSync(join(dir, 'jetstream'), {mode: 0o700, recursive: true})
    const env: Record<string, string> = {HOME: process.env.HOME ?? '/', PATH: process.env.PATH ?? '/usr/bin:/bin', [MARKER]: dir}
    let args: string[]
    if (this.natsMode === 'embedded') {
      // NimsForest reads its identity and its peers from files (see NimsForest's contract).
      writeFileSync(join(dir, 'node-info.json'), JSON.stringify({forest_id: forest.id, node_id: node.id}, null, 2), {mode: 0o600})
      const registry = {nodes: {[forest.id]: [node, ...peers].map((n) => ({forest_id: forest.id, id: n.id, ip: n.ip, ipv4: n.ipv4 ?? n.ip}))}}
      writeFileSync(join(dir, 'registry.json'), JSON.stringify(registry, null, 2), {mode: 0o600})
      Object.assign(env, {JETSTREAM_DIR: join(dir, 'jetstream'), NATS_CLUSTER_NODE_INFO: join(dir, 'node-info.json'), NATS_CLUSTER_REGISTRY: join(dir, 'registry.json')})
      args = []
    } else {
      const conf = this.context.templates.natsConfig({
        bind: {client: ip, cluster: ip, monitor: ip},
        files: {log: join(dir, 'nats.log'), pid: join(dir, 'nats.pid'), store_dir: join(dir, 'jetstream')},
        forest,
        node,
        peers,
        ports,
      })
      writeFileSync(join(dir, 'nats.conf'), conf, {mode: 0o600})
      args = ['-c', join(dir, 'nats.conf')]
    }
    request.progress(`starting ${this.natsMode === 'embedded' ? 'NimsForest' : 'nats-server'} on ${ip}`)
    const out = openSync(join(dir, 'stderr.log'), 'a', 0o600)
    const child = spawn(this.binary!, args, {cwd: dir, detached: true, env, stdio: ['ignore', out, out]})
    closeSync(out)
    const pid = child.pid
    if (pid === undefined) throw this.context.error('FAILED', `could not start ${this.binary}`)
    child.unref()
    const record: NodeFile = {binary: this.binary!, forest_id: forest.id, id: node.id, ip, mode: this.natsMode, pid, started_at: new Date().toISOString()}
    writeFileSync(join(dir, 'node.json'), JSON.stringify(record, null, 2) + '\n', {mode: 0o600})
    await this.waitAnswering(ip, ports.monitor, pid, dir, request.signal)
    return {ip, ipv4: ip, memory_bytes: totalmem(), provider_ref: dir}
  }

  private async waitAnswering(ip: string, port: number, pid: number, dir: string, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + this.config.start_timeout_seconds * 1000
    while (Date.now() < deadline && !signal.aborted) {
      if (!alive(pid)) {
        let why = ''
        try {
          why = readFileSync(join(dir, 'stderr.log'), 'utf8').trim().split('\n').slice(-3).join(' | ')
          if (!why && existsSync(join(dir, 'nats.log'))) why = readFileSync(join(dir, 'nats.log'), 'utf8').trim().split('\n').slice(-3).join(' | ')
        } catch {
          // no log yet
        }
        throw this.context.error('FAILED', `the node process exited at start${why ? `: ${why}` : ''}`, `Its files are in ${dir}.`)
      }
      try {
        const response = await fetch(`http://${ip}:${port}/varz`, {signal: AbortSignal.timeout(500)})
        await response.body?.cancel()
        if (response.status === 200) return
      } catch {
        // not listening yet
      }
      await sleep(50)
    }
    if (signal.aborted) return
    throw this.context.error('FAILED', `the node did not answer on ${ip}:${port} within ${this.config.start_timeout_seconds}s`, `Its files are in ${dir}.`)
  }

  async destroyNode(node: NodeRecord, forest: ForestRecord): Promise<void> {
    const dir = node.provider_ref && node.provider_ref.startsWith(this.dataDir) ? node.provider_ref : this.nodeDir(forest.id, node.id)
    const record = this.readNodeFile(dir)
    if (record && alive(record.pid)) {
      if (isNodeProcess(record.pid, dir)) {
        await this.stop(record.pid)
      } else {
        this.context.log.warn(`${node.id}: pid ${record.pid} is not this node's process any more (it was reused); not signalling it`)
      }
    }
    rmSync(dir, {force: true, recursive: true})
    try {
      rmdirSync(join(this.dataDir, forest.id))
    } catch {
      // other nodes remain, or it is gone already
    }
  }

  private async stop(pid: number): Promise<void> {
    process.kill(pid, 'SIGTERM')
    const deadline = Date.now() + this.config.stop_timeout_seconds * 1000
    while (Date.now() < deadline) {
      if (!alive(pid)) return
      await sleep(25)
    }
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      return
    }
    for (let i = 0; i < 40 && alive(pid); i++) await sleep(25)
  }

  private readNodeFile(dir: string): NodeFile | undefined {
    try {
      return JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8')) as NodeFile
    } catch {
      return undefined
    }
  }

  /** Every node directory on disk, of every forest. */
  private scan(): NodeFile[] {
    const out: NodeFile[] = []
    let forests: string[] = []
    try {
      forests = readdirSync(this.dataDir)
    } catch {
      return out
    }
    for (const f of forests) {
      let nodes: string[] = []
      try {
        nodes = readdirSync(join(this.dataDir, f))
      } catch {
        continue
      }
      for (const n of nodes) {
        const record = this.readNodeFile(join(this.dataDir, f, n))
        if (record) out.push(record)
      }
    }
    return out
  }

  async listNodes(forestId: string): Promise<ProviderNode[]> {
    let names: string[] = []
    try {
      names = readdirSync(join(this.dataDir, forestId))
    } catch {
      return []
    }
    return names.map((id) => {
      const dir = this.nodeDir(forestId, id)
      const record = this.readNodeFile(dir)
      return {forest_id: forestId, id, provider_ref: dir, running: Boolean(record && alive(record.pid) && isNodeProcess(record.pid, dir))}
    })
  }

  endpoints(node: NodeRecord, ports: NatsPorts): NodeEndpoints {
    return {client: `nats://${node.ip}:${ports.client}`, monitor: `http://${node.ip}:${ports.monitor}`}
  }

  async resources(): Promise<{memory_bytes: number; monthly_price: {amount: number; currency: string}}> {
    return {memory_bytes: totalmem(), monthly_price: {amount: 0, currency: 'EUR'}}
  }
}

export function createLocalProvider(context: PluginContext): Provider {
  return new LocalProvider(context)
}
