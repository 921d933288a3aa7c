import {existsSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {Sandbox, nodeProcesses, running} from '../helpers/cli.js'

describe('a local forest, end to end through the built CLI', () => {
  let sb: Sandbox
  beforeAll(() => {
    sb = new Sandbox()
  })
  afterAll(async () => sb.cleanup())

  let forestId = ''

  test('plant local medium forms a three-node cluster and prints the nodes', async () => {
    // Prime the completion cache while the registry is empty: plant must invalidate it.
    expect((await sb.run(['autocomplete:forests'])).stdout).toBe('')
    const result = await sb.json(['plant', 'local', 'medium'])
    forestId = result.forest.id
    expect(forestId).toMatch(/^forest-\d+$/)
    expect(result.forest.status).toBe('active')
    expect(result.nodes).toHaveLength(3)
    const ips = result.nodes.map((n: any) => n.ip)
    expect(new Set(ips).size).toBe(3)
    for (const n of result.nodes) {
      expect(n.ip).toMatch(/^127\./)
      expect(n.status).toBe('active')
      // The cluster is really formed: every node routes to the two others, one JetStream leader.
      const varz: any = await (await fetch(`${n.monitor}/varz`)).json()
      expect(varz.routes).toBe(2)
      expect(varz.jetstream.meta.leader).toBeTruthy()
      expect(varz.cluster.name).toBe(forestId)
    }
    expect(nodeProcesses(sb.dir)).toHaveLength(3)
    expect((await sb.run(['autocomplete:forests'])).stdout.split('\n')).toContain(forestId)
  })

  test('the registry holds the forest in the shape NimsForest reads, mode 0600', () => {
    const doc = sb.registry()
    expect(doc.version).toBe(1)
    expect(doc.forests[forestId]).toMatchObject({id: forestId, provider: 'local', size: 'medium', status: 'active', last_expansion: null})
    for (const n of doc.nodes[forestId]) {
      expect(n).toEqual(
        expect.objectContaining({
          forest_id: forestId,
          id: expect.stringMatching(/^node-\d$/),
          ip: expect.any(String),
          ipv4: n.ip,
          role: 'edge',
          status: 'active',
        }),
      )
    }
    expect(statSync(sb.registryPath).mode & 0o777).toBe(0o600)
  })

  test('list and status report it live', async () => {
    const list = await sb.json(['list'])
    expect(list.forests.map((f: any) => f.id)).toEqual([forestId])
    expect(list.forests[0].active_nodes).toBe(3)
    const status = await sb.json(['status', forestId])
    expect(status.health).toBe('healthy')
    expect(status.nodes.every((n: any) => n.health.healthy && n.health.routes === 2)).toBe(true)
    const text = await sb.run(['status', forestId])
    expect(text.stdout).toContain('healthy')
    expect(text.stdout).toMatch(/node-1\s+127\.\S+\s+active\s+ok\s+2\/2/)
  })

  test('teardown refuses without a TTY or --yes, then removes exactly its processes and data', async () => {
    const refused = await sb.run(['teardown', forestId])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('--yes')
    expect(refused.stderr).toContain(`refusing to remove ${forestId} (3 nodes) without confirmation: stdin is not a terminal`)
    expect(nodeProcesses(sb.dir)).toHaveLength(3)

    const pids = nodeProcesses(sb.dir)
    const result = await sb.json(['teardown', forestId, '--yes'])
    expect(result.removed.sort()).toEqual(['node-1', 'node-2', 'node-3'])
    expect(pids.filter(running)).toEqual([])
    expect(nodeProcesses(sb.dir)).toEqual([])
    expect(existsSync(join(sb.dir, 'local', forestId))).toBe(false)
    const doc = sb.registry()
    expect(doc.forests[forestId]).toBeUndefined()
    expect(doc.nodes[forestId]).toBeUndefined()
    expect((await sb.run(['autocomplete:forests'])).stdout.split('\n')).not.toContain(forestId)
  })
})
