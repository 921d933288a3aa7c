import {spawn} from 'node:child_process'
import {accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, rmdirSync, statSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {totalmem} from 'node:os'
import {delimiter, dirname, join, resolve} from 'node:path'

import type {ClusterAuth, CreatedNode, CreateNodeRequest, ForestRecord, NatsMode, NatsPorts, NodePlan, NodeRecord, NodeReservation, PlanRequest, PluginContext, Provider, ProviderNode, ReconfigureRequest, ReserveRequest} from 'morpheus/plugin-api'

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

/** The program `name` stands for (a path, or a name looked up on PATH), or why there is none. */
function findProgram(name: string): {path: string} | {problem: string} {
  if (name.includes('/')) {
    const path = resolve(name)
    try {
      if (statSync(path).isDirectory()) return {problem: `${path} is a directory, not a program`}
      accessSync(path, constants.X_OK)
      return {path}
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ENOTDIR') return {problem: `${path} does not exist`}
      if (code === 'EACCES') return {problem: `${path} is not executable (chmod +x ${path})`}
      return {problem: `${path} cannot be used: ${(error as Error).message}`}
    }
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, name)
    try {
      if (statSync(candidate).isDirectory()) continue
      accessSync(candidate, constants.X_OK)
      return {path: candidate}
    } catch {
      // keep looking
    }
  }
  return {problem: `"${name}" is not on PATH`}
}

/**
 * Can `dir` be created (or used) by this user? Checked without creating anything (plant --dry-run
 * runs preflight too): the nearest existing part of the path must be a directory we may write.
 * Throws Node's own error (ENOTDIR when a file is in the way, EACCES...).
 */
function assertCanHold(dir: string): void {
  for (let p = resolve(dir); ; p = dirname(p)) {
    try {
      // `/.` makes a file in the way an ENOTDIR, not a success.
      accessSync(`${p}/.`, constants.W_OK | constants.X_OK)
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(p) === p) throw error
    }
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
      const found = findProgram(this.config.nimsforest_binary)
      if ('problem' in found) throw this.context.error('PREREQUISITE', `the NimsForest binary was not found: ${found.problem} (providers.local.nimsforest_binary)`, 'Point providers.local.nimsforest_binary at the binary, or unset it to run nats-server.')
      this.binary = found.path
    } else {
      const bin = this.config.nats_server
      const found = findProgram(bin)
      if ('problem' in found) {
        throw this.context.error('PREREQUISITE', `nats-server was not found: ${found.problem}${bin === 'nats-server' ? '' : ' (providers.local.nats_server)'}`, bin.includes('/')
          ? 'Point providers.local.nats_server at the nats-server binary (`morpheus config set providers.local.nats_server <path>`), or unset it to use the one on PATH.'
          : 'Install it: `sudo apt-get install nats-server` on Debian/Ubuntu (or download it from the NATS releases), or set providers.local.nats_server to its path.')
      }
      this.binary = found.path
    }
    // Every node's files live under the data dir: say now, before anything is created, when it cannot be made.
    try {
      assertCanHold(this.dataDir)
    } catch (error) {
      throw this.context.error('PREREQUISITE', `cannot create the local nodes' directory ${this.dataDir} (providers.local.data_dir)`, 'Or set providers.local.data_dir to a writable directory.', {cause: error})
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

  private alive(pid: number): boolean {
    return this.context.helpers.processAlive(pid)
  }

  /** Is `pid` really the process started for `dir`? (its environment carries the node's marker) */
  private isNodeProcess(pid: number, dir: string): boolean {
    return this.context.helpers.processHasEnv(pid, MARKER, dir)
  }

  async createNode(request: CreateNodeRequest): Promise<CreatedNode> {
    const {forest, node, ports} = request
    if (!this.binary) await this.preflight()
    const ip = node.ip
    for (const port of [ports.client, ports.cluster, ports.monitor]) {
      if (!(await portFree(ip, port))) throw this.context.error('FAILED', `${ip}:${port} is already in use by another process`, 'Stop that process, or move local nodes elsewhere with providers.local.first_address.')
    }
    const dir = this.nodeDir(forest.id, node.id)
    mkdirSync(join(dir, 'jetstream'), {mode: 0o700, recursive: true})
    request.progress(`starting ${this.natsMode === 'embedded' ? 'NimsForest' : 'nats-server'} on ${ip}`)
    await this.start(dir, forest, node, request)
    return {ip, ipv4: ip, memory_bytes: totalmem(), provider_ref: dir}
  }

  /** For plant --dry-run: the files a node would get (no cloud-init: a local node is a process). */
  async plan(request: PlanRequest): Promise<NodePlan> {
    const dir = this.nodeDir(request.forest.id, request.node.id)
    if (this.natsMode === 'embedded') {
      return {details: {binary: this.config.nimsforest_binary, directory: dir}, files: {[join(dir, 'node-info.json')]: JSON.stringify({forest_id: request.forest.id, node_id: request.node.id}, null, 2)}, user_data: null}
    }
    return {details: {binary: this.config.nats_server, directory: dir}, files: {[join(dir, 'nats.conf')]: this.natsConf(dir, request.forest, request.node, request)}, user_data: null}
  }

  private natsConf(dir: string, forest: ForestRecord, node: NodeRecord, request: {peers: readonly NodeRecord[]; cluster: boolean; ports: NatsPorts; clusterAuth: ClusterAuth | null; systemUser?: ClusterAuth | null}): string {
    const ip = node.ip
    return this.context.templates.natsConfig({
      bind: {client: ip, cluster: ip, monitor: ip},
      cluster: request.cluster,
      cluster_auth: request.clusterAuth,
      system_user: request.systemUser ?? null,
      files: {log: join(dir, 'nats.log'), pid: join(dir, 'nats.pid'), store_dir: join(dir, 'jetstream')},
      forest,
      node,
      peers: request.peers,
      ports: request.ports,
    })
  }

  /** Write the node's files for its current peers and start its process; returns once it answers. */
  private async start(dir: string, forest: ForestRecord, node: NodeRecord, request: {peers: readonly NodeRecord[]; cluster: boolean; ports: NatsPorts; clusterAuth: ClusterAuth | null; systemUser?: ClusterAuth | null; signal: AbortSignal; natsMode: NatsMode}): Promise<void> {
    const ip = node.ip
    const {peers, ports} = request
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
      const conf = this.natsConf(dir, forest, node, request)
      // Holds the route credentials: readable by this user only.
      writeFileSync(join(dir, 'nats.conf'), conf, {mode: 0o600})
      args = ['-c', join(dir, 'nats.conf')]
    }
    const out = openSync(join(dir, 'stderr.log'), 'a', 0o600)
    const child = spawn(this.binary!, args, {cwd: dir, detached: true, env, stdio: ['ignore', out, out]})
    closeSync(out)
    const pid = child.pid
    if (pid === undefined) throw this.context.error('FAILED', `could not start ${this.binary}`)
    child.unref()
    const record: NodeFile = {binary: this.binary!, forest_id: forest.id, id: node.id, ip, mode: this.natsMode, pid, started_at: new Date().toISOString()}
    writeFileSync(join(dir, 'node.json'), JSON.stringify(record, null, 2) + '\n', {mode: 0o600})
    await this.waitAnswering(ip, ports.monitor, pid, dir, request.signal)
  }

  /** A one-node forest grows: restart its node with a cluster block and its new peers (same JetStream directory). */
  async reconfigureNode(request: ReconfigureRequest): Promise<void> {
    const {forest, node} = request
    if (!this.binary) await this.preflight()
    const dir = this.ownDir(node, forest)
    const record = this.readNodeFile(dir)
    if (record && this.alive(record.pid) && this.isNodeProcess(record.pid, dir)) {
      request.progress('restarting with a cluster block')
      await this.stop(record.pid)
    }
    await this.start(dir, forest, node, request)
  }

  private async waitAnswering(ip: string, port: number, pid: number, dir: string, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + this.config.start_timeout_seconds * 1000
    while (Date.now() < deadline) {
      // Interrupted: the process exists, so say so (the core records the node as starting) rather than fail.
      if (signal.aborted) return
      if (!this.alive(pid)) {
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
        const response = await fetch(`http://${this.context.helpers.hostPort(ip, port)}/varz`, {signal: AbortSignal.timeout(500)})
        await response.body?.cancel()
        if (response.status === 200) return
      } catch {
        // not listening yet
      }
      await this.context.helpers.sleep(50)
    }
    throw this.context.error('FAILED', `the node did not answer on ${ip}:${port} within ${this.config.start_timeout_seconds}s`, `Its files are in ${dir}.`)
  }

  /**
   * The node's directory: the recorded provider_ref when it lies under our data dir, or when it is
   * the directory of this very node (its node.json says so: another HOME on this device, whose
   * config resolves data_dir elsewhere, planted it); else where we would have made it.
   */
  private ownDir(node: NodeRecord, forest: ForestRecord): string {
    const ref = node.provider_ref
    if (ref && ref.startsWith(this.dataDir + '/')) return ref
    if (ref && ref.startsWith('/')) {
      const record = this.readNodeFile(ref)
      if (record && record.id === node.id && record.forest_id === forest.id) return ref
    }
    return this.nodeDir(forest.id, node.id)
  }

  /** Lame duck mode (SIGUSR2, what `nats-server --signal ldm=<pid>` sends), then wait until the process is gone. */
  async stopNode(node: NodeRecord, forest: ForestRecord, signal: AbortSignal): Promise<void> {
    const dir = this.ownDir(node, forest)
    const record = this.readNodeFile(dir)
    if (!record || !this.alive(record.pid) || !this.isNodeProcess(record.pid, dir)) return
    process.kill(record.pid, record.mode === 'embedded' ? 'SIGTERM' : 'SIGUSR2')
    // nats.conf's lame_duck_duration (30 s) bounds it; a node that is still there a while later is stopped.
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      // Interrupted: lame duck mode goes on by itself; never kill the node for it.
      if (!this.alive(record.pid) || signal.aborted) return
      await this.context.helpers.sleep(100)
    }
    await this.stop(record.pid)
  }

  async destroyNode(node: NodeRecord, forest: ForestRecord): Promise<void> {
    const dir = this.ownDir(node, forest)
    const record = this.readNodeFile(dir)
    if (record && this.alive(record.pid)) {
      if (this.isNodeProcess(record.pid, dir)) {
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
      if (!this.alive(pid)) return
      await this.context.helpers.sleep(25)
    }
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      return
    }
    for (let i = 0; i < 40 && this.alive(pid); i++) await this.context.helpers.sleep(25)
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
      return {forest_id: forestId, id, provider_ref: dir, running: Boolean(record && this.alive(record.pid) && this.isNodeProcess(record.pid, dir))}
    })
  }

  async resources(): Promise<{memory_bytes: number; monthly_price: {amount: number; currency: string}}> {
    return {memory_bytes: totalmem(), monthly_price: {amount: 0, currency: 'EUR'}}
  }
}

export function createLocalProvider(context: PluginContext): Provider {
  return new LocalProvider(context)
}
