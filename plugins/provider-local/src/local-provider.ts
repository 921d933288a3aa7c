import {execFileSync, spawn} from 'node:child_process'
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import {createServer} from 'node:net'
import {totalmem} from 'node:os'
import {delimiter, dirname, join, resolve} from 'node:path'

import type {
  ClusterAuth,
  CreatedNode,
  CreateNodeRequest,
  ForestRecord,
  NatsMode,
  NatsPorts,
  NodePlan,
  NodeRecord,
  NodeReservation,
  NodeVersions,
  PlanRequest,
  PluginContext,
  Provider,
  ProviderNode,
  ReconfigureRequest,
  ReplaceNodeRequest,
  ReserveRequest,
} from 'morpheus/plugin-api'

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

/** What a node's nats.conf is rendered from (createNode, reconfigureNode and replaceNode requests all carry it). */
type NodeConf = {
  peers: readonly NodeRecord[]
  cluster: boolean
  ports: NatsPorts
  clusterAuth: ClusterAuth | null
  systemUser?: ClusterAuth | null
}

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

const versionCache = new Map<string, string | undefined>()

/** What `<binary> --version` says (`nats-server: v2.9.10` gives 2.9.10), or undefined when it says nothing usable. */
export function natsVersionOf(path: string): string | undefined {
  if (versionCache.has(path)) return versionCache.get(path)
  let version: string | undefined
  try {
    const out = execFileSync(path, ['--version'], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000})
    version = /v?(\d+\.\d+\.\d+(?:-[A-Za-z0-9.]+)?)/.exec(out)?.[1]
  } catch {
    version = undefined
  }
  versionCache.set(path, version)
  return version
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
    return this.context.config as {
      first_address: string
      nats_server: string
      nimsforest_binary: string
      start_timeout_seconds: number
      stop_timeout_seconds: number
    }
  }

  async preflight(): Promise<void> {
    if (this.natsMode === 'embedded') {
      const found = findProgram(this.config.nimsforest_binary)
      if ('problem' in found)
        throw this.context.error(
          'PREREQUISITE',
          `the NimsForest binary was not found: ${found.problem} (providers.local.nimsforest_binary)`,
          'Point providers.local.nimsforest_binary at the binary, or unset it to run nats-server.',
        )
      this.binary = found.path
    } else {
      const bin = this.config.nats_server
      const found = findProgram(bin)
      if ('problem' in found) {
        throw this.context.error(
          'PREREQUISITE',
          `nats-server was not found: ${found.problem}${bin === 'nats-server' ? '' : ' (providers.local.nats_server)'}`,
          bin.includes('/')
            ? 'Point providers.local.nats_server at the nats-server binary (`morpheus config set providers.local.nats_server <path>`), or unset it to use the one on PATH.'
            : 'Install it: `sudo apt-get install nats-server` on Debian/Ubuntu (or download it from the NATS releases), or set providers.local.nats_server to its path.',
        )
      }
      this.binary = found.path
    }
    // Every node's files live under the data dir: say now, before anything is created, when it cannot be made.
    try {
      assertCanHold(this.dataDir)
    } catch (error) {
      throw this.context.error(
        'PREREQUISITE',
        `cannot create the local nodes' directory ${this.dataDir} (providers.local.data_dir)`,
        'Or set providers.local.data_dir to a writable directory.',
        {cause: error},
      )
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
      if (!(await portFree(ip, port)))
        throw this.context.error(
          'FAILED',
          `${ip}:${port} is already in use by another process`,
          'Stop that process, or move local nodes elsewhere with providers.local.first_address.',
        )
    }
    const program = this.program(request.versions)
    const dir = this.nodeDir(forest.id, node.id)
    mkdirSync(join(dir, 'jetstream'), {mode: 0o700, recursive: true})
    request.progress(
      `starting ${this.natsMode === 'embedded' ? 'NimsForest' : `nats-server ${program.versions.nats ?? ''}`.trim()} on ${ip}`,
    )
    await this.start(dir, forest, node, request, program.path)
    return {ip, ipv4: ip, memory_bytes: totalmem(), provider_ref: dir, versions: program.versions}
  }

  /**
   * The binary a node runs for `versions` (the forest's recorded ones, an upgrade's target), and
   * what it is. nats-server: the recorded path when it still reports the version, else the first
   * of providers.local.nats_server, every file in providers.local.nats_server_dir, and
   * `nats-server-<version>` on PATH that reports it. Nothing pinned: the configured binary.
   */
  private program(versions: NodeVersions | undefined): {path: string; versions: NodeVersions} {
    if (this.natsMode === 'embedded') {
      const wanted = versions?.nimsforest
      if (wanted && wanted !== this.binary) {
        const found = findProgram(wanted)
        if ('problem' in found)
          throw this.context.error(
            'PREREQUISITE',
            `the forest's NimsForest build ${wanted} is not here: ${found.problem}`,
            'Put that binary back, or upgrade the forest to one that is here (`morpheus upgrade <forest> --nimsforest <path>`).',
          )
        return {path: found.path, versions: {nimsforest: found.path}}
      }
      return {path: this.binary!, versions: {nimsforest: this.binary!}}
    }
    const wanted = versions?.nats
    const own = (path: string) => ({path, versions: {nats: natsVersionOf(path) ?? 'unknown', nats_source: path}})
    if (!wanted) return own(this.binary!)
    const candidates = [versions?.nats_source, this.binary, ...this.dirBinaries(), ...this.onPath(`nats-server-${wanted}`)].filter(
      (p): p is string => Boolean(p && p.startsWith('/')),
    )
    for (const path of [...new Set(candidates)]) {
      try {
        accessSync(path, constants.X_OK)
      } catch {
        continue
      }
      if (natsVersionOf(path) === wanted) return {path, versions: {nats: wanted, nats_source: path}}
    }
    throw this.context.error(
      'PREREQUISITE',
      `nats-server ${wanted} was not found on this machine (looked at ${[...new Set(candidates)].join(', ') || 'nothing'})`,
      `Put a nats-server ${wanted} binary on PATH as nats-server-${wanted}, or in providers.local.nats_server_dir, or name its path (\`morpheus upgrade <forest> --nats /path/to/nats-server\`).`,
    )
  }

  /** Files of providers.local.nats_server_dir (further nats-server builds, found by their --version). */
  private dirBinaries(): string[] {
    const dir = String(this.context.config.nats_server_dir ?? '')
    if (!dir) return []
    const full = this.context.resolvePath(dir)
    try {
      return readdirSync(full)
        .map((f) => join(full, f))
        .filter((p) => statSync(p).isFile())
    } catch {
      return []
    }
  }

  private onPath(name: string): string[] {
    const found = findProgram(name)
    return 'path' in found ? [found.path] : []
  }

  /** upgrade: the binary the user named, as a path or a version (see program()), checked before any node is touched. */
  async resolveVersions(request: {natsMode: NatsMode; wanted: NodeVersions}): Promise<NodeVersions> {
    if (!this.binary) await this.preflight()
    const {wanted} = request
    if (this.natsMode === 'embedded') {
      if (wanted.nats)
        throw this.context.error(
          'PREREQUISITE',
          'this forest runs NimsForest with NATS embedded: upgrade it with --nimsforest <path>, not --nats',
        )
      return this.program({nimsforest: wanted.nimsforest}).versions
    }
    if (wanted.nimsforest)
      throw this.context.error('PREREQUISITE', 'a local system-mode node runs nats-server only: upgrade it with --nats <version or path>')
    const name = wanted.nats ?? ''
    if (name.includes('/')) {
      const found = findProgram(name)
      if ('problem' in found) throw this.context.error('PREREQUISITE', `nats-server ${name}: ${found.problem}`)
      const version = natsVersionOf(found.path)
      if (!version)
        throw this.context.error(
          'PREREQUISITE',
          `${found.path} does not say which nats-server it is (\`${found.path} --version\` printed no version)`,
          'Name a nats-server binary.',
        )
      return {nats: version, nats_source: found.path}
    }
    return this.program({nats: name}).versions
  }

  /**
   * repair and upgrade: the same node again, on the same address and ports, with the same store
   * directory (its JetStream data stays). The old process, if any, is stopped first: in lame duck
   * mode when graceful (it hands its clients and leaderships over), then as teardown stops it.
   */
  async replaceNode(request: ReplaceNodeRequest): Promise<CreatedNode> {
    const {forest, node, ports} = request
    if (!this.binary) await this.preflight()
    const program = this.program(request.versions)
    const dir = this.ownDir(node, forest)
    const record = this.readNodeFile(dir)
    if (record && this.alive(record.pid) && this.isNodeProcess(record.pid, dir)) {
      request.progress(request.graceful ? 'lame duck mode, then stopping' : 'stopping what is left of it')
      await this.stop(record.pid, request.graceful)
    }
    // The old process may take a moment to let go of its ports after it exits (a loaded machine).
    const until = Date.now() + this.config.start_timeout_seconds * 1000
    for (const port of [ports.client, ports.cluster, ports.monitor]) {
      while (!(await portFree(node.ip, port))) {
        if (Date.now() > until)
          throw this.context.error(
            'FAILED',
            `${node.ip}:${port} is in use by another process, so ${node.id} cannot start there again`,
            'Stop that process, then run the command again.',
          )
        await this.context.helpers.sleep(100)
      }
    }
    mkdirSync(join(dir, 'jetstream'), {mode: 0o700, recursive: true})
    request.progress(
      `starting ${this.natsMode === 'embedded' ? 'NimsForest' : `nats-server ${program.versions.nats ?? ''}`.trim()} on ${node.ip} again`,
    )
    await this.start(dir, forest, node, request, program.path)
    return {ip: node.ip, ipv4: node.ipv4 ?? node.ip, memory_bytes: totalmem(), provider_ref: dir, versions: program.versions}
  }

  /** For plant --dry-run: the files a node would get (no cloud-init: a local node is a process). */
  async plan(request: PlanRequest): Promise<NodePlan> {
    const dir = this.nodeDir(request.forest.id, request.node.id)
    if (this.natsMode === 'embedded') {
      return {
        details: {binary: this.config.nimsforest_binary, directory: dir},
        files: {[join(dir, 'node-info.json')]: JSON.stringify({forest_id: request.forest.id, node_id: request.node.id}, null, 2)},
        user_data: null,
      }
    }
    return {
      details: {binary: this.config.nats_server, directory: dir},
      files: {[join(dir, 'nats.conf')]: this.natsConf(dir, request.forest, request.node, request)},
      user_data: null,
    }
  }

  private natsConf(dir: string, forest: ForestRecord, node: NodeRecord, request: NodeConf): string {
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
  private async start(
    dir: string,
    forest: ForestRecord,
    node: NodeRecord,
    request: NodeConf & {signal: AbortSignal; natsMode: NatsMode},
    binary = this.binary!,
  ): Promise<void> {
    const ip = node.ip
    const {peers, ports} = request
    const env: Record<string, string> = {HOME: process.env.HOME ?? '/', PATH: process.env.PATH ?? '/usr/bin:/bin', [MARKER]: dir}
    let args: string[]
    if (this.natsMode === 'embedded') {
      // NimsForest reads its identity and its peers from files (see NimsForest's contract).
      writeFileSync(join(dir, 'node-info.json'), JSON.stringify({forest_id: forest.id, node_id: node.id}, null, 2), {mode: 0o600})
      const registry = {
        nodes: {[forest.id]: [node, ...peers].map((n) => ({forest_id: forest.id, id: n.id, ip: n.ip, ipv4: n.ipv4 ?? n.ip}))},
      }
      writeFileSync(join(dir, 'registry.json'), JSON.stringify(registry, null, 2), {mode: 0o600})
      Object.assign(env, {
        JETSTREAM_DIR: join(dir, 'jetstream'),
        NATS_CLUSTER_NODE_INFO: join(dir, 'node-info.json'),
        NATS_CLUSTER_REGISTRY: join(dir, 'registry.json'),
      })
      args = []
    } else {
      const conf = this.natsConf(dir, forest, node, request)
      // Holds the route credentials: readable by this user only.
      writeFileSync(join(dir, 'nats.conf'), conf, {mode: 0o600})
      args = ['-c', join(dir, 'nats.conf')]
    }
    const out = openSync(join(dir, 'stderr.log'), 'a', 0o600)
    const child = spawn(binary, args, {cwd: dir, detached: true, env, stdio: ['ignore', out, out]})
    closeSync(out)
    const pid = child.pid
    if (pid === undefined) throw this.context.error('FAILED', `could not start ${binary}`)
    child.unref()
    const record: NodeFile = {binary, forest_id: forest.id, id: node.id, ip, mode: this.natsMode, pid, started_at: new Date().toISOString()}
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
    // The same program it ran (an upgraded node keeps its version).
    const binary = record?.binary && this.natsMode === record.mode ? record.binary : this.binary!
    await this.start(dir, forest, node, request, binary)
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
          if (!why && existsSync(join(dir, 'nats.log')))
            why = readFileSync(join(dir, 'nats.log'), 'utf8').trim().split('\n').slice(-3).join(' | ')
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
    throw this.context.error(
      'FAILED',
      `the node did not answer on ${ip}:${port} within ${this.config.start_timeout_seconds}s`,
      `Its files are in ${dir}.`,
    )
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
    // A plant killed (SIGKILL) between starting a node's process and writing its node.json leaves a
    // process no file names: find it by the marker in its environment.
    for (const pid of this.markedProcesses(dir)) if (pid !== record?.pid) await this.stop(pid)
    rmSync(dir, {force: true, recursive: true})
    try {
      rmdirSync(join(this.dataDir, forest.id))
    } catch {
      // other nodes remain, or it is gone already
    }
  }

  /**
   * Stop a node's process: SIGTERM (a clean shutdown), SIGKILL after stop_timeout_seconds. With
   * lameDuck, SIGUSR2 first (nats-server's lame duck mode: no new clients, leaderships handed over,
   * clients closed over lame_duck_duration), SIGTERM once stop_timeout_seconds have passed.
   */
  private async stop(pid: number, lameDuck = false): Promise<void> {
    // A process that ends (and is reaped) between the caller's look and a signal is stopped already.
    const signal = (name: NodeJS.Signals): boolean => {
      try {
        process.kill(pid, name)
        return true
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false
        throw error
      }
    }
    if (lameDuck && this.natsMode === 'system') {
      if (!signal('SIGUSR2')) return
      const until = Date.now() + this.config.stop_timeout_seconds * 1000
      while (Date.now() < until && this.alive(pid)) await this.context.helpers.sleep(50)
      if (!this.alive(pid)) return
    }
    if (!signal('SIGTERM')) return
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
    for (let i = 0; i < 200 && this.alive(pid); i++) await this.context.helpers.sleep(25)
  }

  /** Running processes started for `dir` (their environment carries the node's marker); none where /proc is not there. */
  private markedProcesses(dir: string): number[] {
    let entries: string[]
    try {
      entries = readdirSync('/proc')
    } catch {
      return []
    }
    return entries
      .filter((e) => /^\d+$/.test(e))
      .map(Number)
      .filter((pid) => pid !== process.pid && this.alive(pid) && this.isNodeProcess(pid, dir))
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
    let forests: string[]
    try {
      forests = readdirSync(this.dataDir)
    } catch {
      return out
    }
    for (const f of forests) {
      let nodes: string[]
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
    let names: string[]
    try {
      names = readdirSync(join(this.dataDir, forestId))
    } catch {
      return []
    }
    return names.map((id) => {
      const dir = this.nodeDir(forestId, id)
      const record = this.readNodeFile(dir)
      return {
        forest_id: forestId,
        id,
        provider_ref: dir,
        running: Boolean(record && this.alive(record.pid) && this.isNodeProcess(record.pid, dir)),
      }
    })
  }

  async resources(): Promise<{memory_bytes: number; monthly_price: {amount: number; currency: string}}> {
    return {memory_bytes: totalmem(), monthly_price: {amount: 0, currency: 'EUR'}}
  }
}

export function createLocalProvider(context: PluginContext): Provider {
  return new LocalProvider(context)
}
