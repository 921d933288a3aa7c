// A node's NATS client port, reached over SSH (Provider.clientTunnel).
//
// A system-mode node's client port listens on 127.0.0.1 only, and the cloud firewall admits the operator's
// networks to SSH and monitoring alone. JetStream administration (grow from one node, shrink, upgrade) goes
// through OpenSSH's stdio forwarding instead: a listener on 127.0.0.1 of this machine runs, for each TCP
// connection the NATS client opens, one `ssh -W 127.0.0.1:<client port> root@<node>` and pipes the two
// together. Authenticated and encrypted by SSH (the key put on every node, providers.hetzner.ssh_key or
// ssh_public_key_path; ssh_identity_file, else ssh's own keys and agent); nothing new is opened on the node.
//
// Host keys: trust on first use, per machine. They go to Morpheus's own known_hosts file (in its data
// directory, 0600) under an alias naming the forest, the node and the server id, so a replaced machine
// (repair, upgrade: the same addresses, a new server) is a new entry and never a "host key changed"
// refusal, while a changed key of the same server is refused.
import {spawn, type ChildProcess} from 'node:child_process'
import {chmodSync, closeSync, mkdirSync, openSync} from 'node:fs'
import {createServer, type Server, type Socket} from 'node:net'
import {dirname, join} from 'node:path'

import type {ClientTunnel, NatsPorts, NodeRecord, PluginContext} from 'morpheus/plugin-api'

/** Every ssh process any tunnel of this process started: none outlives the CLI. */
const running = new Set<ChildProcess>()
let exitHook = false

function track(child: ChildProcess): void {
  running.add(child)
  child.once('exit', () => running.delete(child))
  if (!exitHook) {
    exitHook = true
    process.once('exit', () => {
      for (const c of running) c.kill('SIGTERM')
    })
  }
}

export interface SshTarget {
  /** The address SSH connects to (the node's probe address: what monitoring uses). */
  address: string
  /** The client port inside the node. */
  port: number
  /** The node's SSH port (22; another only in tests). */
  sshPort?: number
  /** Where the client port listens inside the node (127.0.0.1; another only in tests). */
  portHost?: string
  /** A stable name for the machine's host key (forest, node, server). */
  alias: string
  /** Private key file ('' for ssh's defaults). */
  identity: string
  knownHosts: string
}

export function sshArgs(target: SshTarget): string[] {
  return [
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=15',
    '-o',
    'ServerAliveInterval=10',
    '-o',
    'ServerAliveCountMax=3',
    '-o',
    'StrictHostKeyChecking=accept-new',
    '-o',
    `UserKnownHostsFile=${target.knownHosts}`,
    '-o',
    `HostKeyAlias=${target.alias}`,
    // Readable entries: an operator can find (and remove) the key of a forest's node by its alias.
    '-o',
    'HashKnownHosts=no',
    '-o',
    'LogLevel=ERROR',
    ...(target.identity ? ['-i', target.identity, '-o', 'IdentitiesOnly=yes'] : []),
    '-p',
    String(target.sshPort ?? 22),
    '-l',
    'root',
    '-W',
    `${target.portHost ?? '127.0.0.1'}:${target.port}`,
    target.address,
  ]
}

/** The last meaningful line ssh wrote to stderr (its reason), short. */
function reason(stderr: string, target: SshTarget): string {
  // ssh is in, but the node refused the forward: nothing listens there.
  if (/stdio forwarding failed|open failed/.test(stderr))
    return `the client port did not answer (nothing listens on ${target.portHost ?? '127.0.0.1'}:${target.port} in the node)`
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  return (lines.at(-1) ?? 'ssh ended without a reason').slice(0, 300)
}

/**
 * One ssh -W to the node: resolves once the NATS server's INFO greeting came through it (SSH is in and the
 * client port answers), then closes. Rejects with ssh's own reason.
 */
function probe(target: SshTarget, signal: AbortSignal, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess
    try {
      child = spawn('ssh', sshArgs(target), {stdio: ['pipe', 'pipe', 'pipe']})
    } catch (error) {
      reject(error)
      return
    }
    track(child)
    let out = ''
    let err = ''
    let done = false
    const finish = (error?: Error) => {
      if (done) return
      done = true
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      child.kill('SIGTERM')
      if (error) reject(error)
      else resolve()
    }
    const onAbort = () => finish(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
    const timer = setTimeout(
      () => finish(new Error(`no answer from the NATS client port through SSH within ${timeoutMs / 1000} s`)),
      timeoutMs,
    )
    signal.addEventListener('abort', onAbort, {once: true})
    child.once('error', (e: NodeJS.ErrnoException) =>
      finish(e.code === 'ENOENT' ? Object.assign(new Error('ssh is not installed'), {code: 'ENOENT'}) : e),
    )
    child.stderr!.on('data', (d) => (err += d))
    child.stdout!.on('data', (d) => {
      out += d
      if (out.startsWith('INFO ')) finish()
      else if (out.length > 8)
        finish(new Error(`something other than NATS answers on ${target.portHost ?? '127.0.0.1'}:${target.port} in the node`))
    })
    child.once('exit', () => finish(new Error(reason(err, target))))
  })
}

/** A local listener whose every connection is one ssh -W to the node. */
class SshTunnel implements ClientTunnel {
  private readonly children = new Set<ChildProcess>()
  private closed = false

  constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly target: SshTarget,
  ) {
    server.on('connection', (socket) => this.pipe(socket))
  }

  private pipe(socket: Socket): void {
    if (this.closed) return void socket.destroy()
    const child = spawn('ssh', sshArgs(this.target), {stdio: ['pipe', 'pipe', 'ignore']})
    track(child)
    this.children.add(child)
    const end = () => {
      socket.destroy()
      child.kill('SIGTERM')
      this.children.delete(child)
    }
    child.once('error', end)
    child.once('exit', end)
    socket.once('close', end)
    socket.once('error', end)
    child.stdin!.on('error', end)
    socket.pipe(child.stdin!)
    child.stdout!.pipe(socket)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const child of this.children) child.kill('SIGTERM')
    this.children.clear()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

/** Morpheus's known_hosts (its data directory, 0600): made once. */
export function knownHostsFile(context: Pick<PluginContext, 'dataDir'>): string {
  const path = join(context.dataDir, 'ssh', 'known_hosts')
  mkdirSync(dirname(path), {mode: 0o700, recursive: true})
  closeSync(openSync(path, 'a', 0o600))
  chmodSync(path, 0o600)
  return path
}

/**
 * Open a tunnel to a node's client port. Rejects with a PREREQUISITE error when SSH does not let this machine
 * in (no key on the node, a key ssh cannot find, a host key that changed) or the port does not answer.
 */
export async function openClientTunnel(
  context: PluginContext,
  settings: {ssh_identity_file: string},
  node: NodeRecord,
  ports: NatsPorts,
  signal: AbortSignal,
): Promise<ClientTunnel> {
  const address = node.probe_address || node.ip
  const target: SshTarget = {
    address,
    alias: `morpheus-${node.forest_id}-${node.id}-${node.provider_ref || 'unknown'}`,
    identity: settings.ssh_identity_file ? context.resolvePath(settings.ssh_identity_file) : '',
    knownHosts: knownHostsFile(context),
    port: ports.client,
  }
  try {
    return await openTunnel(target, signal)
  } catch (error) {
    if (signal.aborted) throw error
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT'
    throw context.error(
      'PREREQUISITE',
      missing
        ? `cannot reach ${node.id}'s NATS client port: ssh is not installed on this machine`
        : `cannot reach ${node.id}'s NATS client port through SSH (root@${address}): ${(error as Error).message}`,
      missing
        ? 'Install OpenSSH (apt-get install openssh-client): Morpheus reaches JetStream on Hetzner nodes through SSH.'
        : 'Morpheus reaches JetStream on a node through SSH as root: the node must have your key (providers.hetzner.ssh_key or ssh_public_key_path), this machine must find the private key (providers.hetzner.ssh_identity_file, or ssh-agent), and providers.hetzner.ssh_cidrs (or operator_cidrs) must admit this machine.',
    )
  }
}

/** A tunnel to the target: one ssh -W first (it must get the NATS greeting through), then the local listener. */
export async function openTunnel(target: SshTarget, signal: AbortSignal): Promise<ClientTunnel> {
  await probe(target, signal)
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const {port} = server.address() as {port: number}
  return new SshTunnel(server, `nats://127.0.0.1:${port}`, target)
}
