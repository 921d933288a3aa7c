import {mkdtempSync, rmSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {NodeRecord} from 'morpheus/plugin-api'

import {Sandbox} from '../../../test/helpers/cli.js'
import {intToIp, ipToInt} from '../src/addresses.js'
import {localProvider} from './provider.js'

// Every test sandbox has a free loopback range of its own, so no other test meets an address where
// something already listens. Here something does: a real listener (another program) on a node port.

/** A TCP listener on host:port, as another program would hold it. */
function listen(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy())
    server.once('error', reject)
    server.listen(port, host, () => resolve(server))
  })
}

const close = (server: Server) => new Promise((resolve) => server.close(resolve))

/** A random /24 of 127.0.0.0/8 away from the sandboxes' ranges (127.10-249.x.x), starting at .1. */
function range(): string {
  return `127.${250 + Math.floor(Math.random() * 5)}.${Math.floor(Math.random() * 250)}.1`
}

const next = (ip: string, n = 1) => intToIp(ipToInt(ip) + n)

test('the provider skips an address where another process listens on a node port, and its node starts on the next', async () => {
  const first = range()
  const dir = mkdtempSync(join(tmpdir(), 'morpheus-local-busy-'))
  // first: the client port is taken; first+1: the monitoring port. The node must get first+2.
  const listeners = [await listen(first, 4222), await listen(next(first), 8222)]
  const {context, forest, provider} = await localProvider(dir, first, `forest-busy${process.pid}`)
  let node: NodeRecord | undefined
  try {
    await provider.preflight()
    const [reserved] = provider.reserve({count: 1, existing: [], forest, ids: ['node-1']})
    expect(reserved.ip).toBe(next(first, 2))
    node = {created_at: forest.created_at, forest_id: forest.id, role: 'edge', status: 'creating', ...reserved}
    const created = await provider.createNode({
      addressesKnown: () => undefined,
      cluster: false,
      clusterAuth: null,
      forest,
      natsMode: 'system',
      node,
      peers: [],
      ports: context.ports,
      progress: () => undefined,
      signal: new AbortController().signal,
    })
    expect(created.ip).toBe(next(first, 2))
    const varz: any = await (await fetch(`http://${next(first, 2)}:8222/varz`)).json()
    expect(varz.port).toBe(4222)
  } finally {
    if (node) await provider.destroyNode(node, forest)
    for (const l of listeners) await close(l)
    rmSync(dir, {force: true, recursive: true})
  }
}, 60_000)

test('plant through the CLI: a listener on first_address, and the forest is planted on the next address', async () => {
  const sb = new Sandbox()
  const listener = await listen(sb.firstAddress, 4222)
  try {
    const planted = await sb.json(['plant', 'local', 'small'])
    expect(planted.forest.status).toBe('active')
    expect(planted.nodes.map((n: any) => n.ip)).toEqual([next(sb.firstAddress)])
    const removed = await sb.json(['teardown', planted.forest.id, '--yes'])
    expect(removed.removed).toEqual(['node-1'])
  } finally {
    await close(listener)
    await sb.cleanup()
  }
}, 120_000)
