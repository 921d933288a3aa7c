/**
 * The "example" provider: each node is a nats-server process listening on its own
 * loopback address (127.0.100.1, 127.0.100.2, ...), with its files under Morpheus's
 * data directory. It is a complete provider, small enough to read in one sitting; it
 * leaves out what the built-in "local" provider adds for everyday use (busy-port
 * detection, NimsForest's embedded mode, stop timeouts in the config).
 *
 * It imports nothing from Morpheus at run time: everything (config, templates,
 * errors, logging, helpers, the abort signal) arrives through the context given to
 * the factory (plugin API 2).
 */
import {spawn} from 'node:child_process'
import {accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {delimiter, join, resolve} from 'node:path'

/** @typedef {import('morpheus/plugin-api').PluginContext} PluginContext */
/** @typedef {import('morpheus/plugin-api').Provider} Provider */
/** @typedef {import('morpheus/plugin-api').NodeRecord} NodeRecord */
/** @typedef {import('morpheus/plugin-api').ForestRecord} ForestRecord */

/** Environment variable that marks a node's process, so teardown never signals a reused pid. */
const MARKER = 'MORPHEUS_NODE_DIR'

/** @param {string} ip */
function ipToInt(ip) {
  const parts = ip.split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`"${ip}" is not an IPv4 address`)
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3]
}

/** @param {number} n */
function intToIp(n) {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

/** @param {string} name */
function findOnPath(name) {
  const candidates = name.includes('/')
    ? [resolve(name)]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, name))
  return candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/**
 * @param {PluginContext} context
 * @returns {Provider}
 */
export function createExampleProvider(context) {
  const config = /** @type {{first_address: string; nats_server: string; start_timeout_seconds: number}} */ (context.config)
  const root = join(context.dataDir, 'provider-example')
  const start = ipToInt(config.first_address)
  if (start >>> 24 !== 127) {
    throw context.error(
      'FAILED',
      `providers.example.first_address ${config.first_address} is not a loopback address`,
      'Pick an address in 127.0.0.0/8, e.g. 127.0.100.1.',
    )
  }
  const {helpers} = context
  const alive = (/** @type {number} */ pid) => helpers.processAlive(pid)
  // Is `pid` the process started for `dir`? Its environment carries the node's marker.
  const isOurs = (/** @type {number} */ pid, /** @type {string} */ dir) => helpers.processHasEnv(pid, MARKER, dir)
  /** @type {string | undefined} */
  let binary
  const nodeDir = (/** @type {string} */ forestId, /** @type {string} */ nodeId) => join(root, forestId, nodeId)

  async function preflight() {
    binary = findOnPath(config.nats_server)
    if (!binary) {
      throw context.error(
        'PREREQUISITE',
        `nats-server was not found ("${config.nats_server}" is not on PATH)`,
        'Install nats-server, or set providers.example.nats_server to its path.',
      )
    }
  }

  return {
    name: 'example',

    // Runs before anything is created: check what the plugin needs, with a hint.
    preflight,

    // Pure: may run several times inside the registry's compare-and-swap loop.
    reserve(request) {
      const taken = new Set(request.existing.map((n) => n.ip))
      /** @type {string[]} */
      const ips = []
      for (let n = start; ips.length < request.count; n++) {
        if (n >>> 24 !== 127) throw context.error('FAILED', `no free loopback address left after ${config.first_address}`)
        const ip = intToIp(n)
        if ((n & 255) === 0 || (n & 255) === 255 || ip === '127.0.0.1' || taken.has(ip)) continue
        ips.push(ip)
      }
      return request.ids.map((id, i) => ({id, ip: ips[i], ipv4: ips[i], provider_ref: nodeDir(request.forest.id, id)}))
    },

    // The node boots with every peer whose address is known, route credentials, and a cluster
    // block unless the forest has one node (cluster: false).
    async createNode({forest, node, peers, ports, cluster, clusterAuth, signal, progress}) {
      if (!binary) await preflight()
      const dir = nodeDir(forest.id, node.id)
      mkdirSync(join(dir, 'jetstream'), {mode: 0o700, recursive: true})
      // The core's nats.conf template: routes to every peer, JetStream, this node's address.
      const conf = context.templates.natsConfig({
        bind: {client: node.ip, cluster: node.ip, monitor: node.ip},
        cluster,
        files: {log: join(dir, 'nats.log'), pid: join(dir, 'nats.pid'), store_dir: join(dir, 'jetstream')},
        forest,
        node,
        peers,
        ports,
        // The forest's generated route credentials, unless the user chose a passphrase of their own.
        cluster_auth: context.config.cluster_passphrase
          ? {user: 'morpheus', password: String(context.config.cluster_passphrase)}
          : clusterAuth,
      })
      writeFileSync(join(dir, 'nats.conf'), conf, {mode: 0o600})
      progress(`starting nats-server on ${node.ip}`)
      const out = openSync(join(dir, 'stderr.log'), 'a', 0o600)
      const child = spawn(/** @type {string} */ (binary), ['-c', join(dir, 'nats.conf')], {
        cwd: dir,
        detached: true,
        env: {HOME: process.env.HOME ?? '/', PATH: process.env.PATH ?? '/usr/bin:/bin', [MARKER]: dir},
        stdio: ['ignore', out, out],
      })
      closeSync(out)
      if (child.pid === undefined) throw context.error('FAILED', `could not start ${binary}`)
      child.unref()
      const pid = child.pid
      writeFileSync(join(dir, 'node.json'), JSON.stringify({forest_id: forest.id, id: node.id, ip: node.ip, pid}) + '\n', {mode: 0o600})

      const deadline = Date.now() + config.start_timeout_seconds * 1000
      // When the user interrupts, stop waiting: the process exists, so report it and let the core record it.
      while (!signal.aborted) {
        if (!alive(pid)) {
          const log = existsSync(join(dir, 'nats.log'))
            ? readFileSync(join(dir, 'nats.log'), 'utf8')
            : readFileSync(join(dir, 'stderr.log'), 'utf8')
          throw context.error(
            'FAILED',
            `nats-server exited at start: ${log.trim().split('\n').slice(-2).join(' | ')}`,
            `Its files are in ${dir}.`,
          )
        }
        try {
          const response = await fetch(`http://${helpers.hostPort(node.ip, ports.monitor)}/varz`, {signal: AbortSignal.timeout(500)})
          await response.body?.cancel()
          if (response.ok) break
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline)
          throw context.error(
            'FAILED',
            `the node did not answer on ${node.ip}:${ports.monitor} within ${config.start_timeout_seconds}s`,
            `Its files are in ${dir}.`,
          )
        await helpers.sleep(50)
      }
      return {ip: node.ip, ipv4: node.ip, provider_ref: dir}
    },

    // Idempotent: a node that is already gone (no directory, no process) is not an error.
    async destroyNode(node, forest) {
      const dir = nodeDir(forest.id, node.id)
      let pid
      try {
        pid = JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8')).pid
      } catch {
        pid = undefined
      }
      if (typeof pid === 'number' && alive(pid)) {
        if (isOurs(pid, dir)) {
          process.kill(pid, 'SIGTERM')
          for (let i = 0; i < 100 && alive(pid); i++) await helpers.sleep(50)
          if (alive(pid)) process.kill(pid, 'SIGKILL')
        } else {
          context.log.warn(`${node.id}: pid ${pid} is no longer this node's process; not signalling it`)
        }
      }
      rmSync(dir, {force: true, recursive: true})
    },

    async listNodes(forestId) {
      /** @type {string[]} */
      let ids
      try {
        ids = readdirSync(join(root, forestId))
      } catch {
        return []
      }
      return ids.map((id) => {
        const dir = nodeDir(forestId, id)
        let running
        try {
          const {pid} = JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8'))
          running = alive(pid) && isOurs(pid, dir)
        } catch {
          running = false
        }
        return {forest_id: forestId, id, provider_ref: dir, running}
      })
    },

    // Optional and pure: where the core (and `morpheus status`) reach a node. Without it the core
    // uses the node's probe_address (or, as here, where there is none, its ip) and its ports.
    endpoints(node, ports) {
      return {client: `nats://${helpers.hostPort(node.ip, ports.client)}`, monitor: `http://${helpers.hostPort(node.ip, ports.monitor)}`}
    },

    // Optional: runs once every node is gone.
    async destroyForest(forest) {
      rmSync(join(root, forest.id), {force: true, recursive: true})
    },
  }
}
