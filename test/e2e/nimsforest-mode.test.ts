import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {ROOT, Sandbox, nodeProcesses} from '../helpers/cli.js'

/**
 * With providers.local.nimsforest_binary set, local nodes run that binary the way a cloud node
 * runs NimsForest: identity and peers in files named by environment variables. The binary here is
 * a stand-in (test/fixtures/nimsforest/forest) that enforces NimsForest's documented contract and
 * runs nats-server as its embedded server; the forest must form through it.
 */
describe('local nodes running a NimsForest binary (embedded NATS)', () => {
  const FOREST_BIN = join(ROOT, 'test', 'fixtures', 'nimsforest', 'forest')
  let sb: Sandbox
  beforeAll(() => {
    sb = new Sandbox()
  })
  afterAll(async () => sb.cleanup())

  test('plant forms the cluster through the NimsForest contract files; teardown stops it', async () => {
    sb.writeConfig(`providers:\n  local:\n    first_address: ${sb.firstAddress}\n    nimsforest_binary: ${FOREST_BIN}\n`)
    const planted = await sb.json(['plant', 'local', 'medium'])
    const id = planted.forest.id
    expect(planted.forest.nats_mode).toBe('embedded')
    expect(planted.nodes).toHaveLength(3)
    for (const n of planted.nodes) {
      const dir = n.provider_ref
      const info = JSON.parse(readFileSync(join(dir, 'node-info.json'), 'utf8'))
      expect(info).toEqual({forest_id: id, node_id: n.id})
      const peers = JSON.parse(readFileSync(join(dir, 'registry.json'), 'utf8'))
      expect(Object.keys(peers.nodes)).toEqual([id])
      expect(peers.nodes[id].map((e: any) => e.id).sort()).toEqual(['node-1', 'node-2', 'node-3'])
      for (const e of peers.nodes[id])
        expect(e).toEqual(expect.objectContaining({forest_id: id, id: expect.any(String), ip: expect.stringMatching(/^127\./)}))
      const varz: any = await (await fetch(`${n.monitor}/varz`)).json()
      expect(varz.server_name).toBe(n.id)
      expect(varz.cluster.name).toBe(id)
      expect(varz.routes).toBe(2)
    }
    const status = await sb.json(['status', id])
    expect(status.health).toBe('healthy')
    expect(nodeProcesses(sb.dir).length).toBeGreaterThanOrEqual(3)
    await sb.json(['teardown', id, '--yes'])
    expect(nodeProcesses(sb.dir)).toEqual([])
  })

  test('a NimsForest binary that is not there: exit 5 naming the key, nothing recorded', async () => {
    sb.writeConfig(
      `providers:\n  local:\n    first_address: ${sb.firstAddress}\n    nimsforest_binary: ${join(sb.dir, 'no-such-forest')}\n`,
    )
    const r = await sb.run(['plant', 'local', 'small'])
    expect(r.code).toBe(5)
    expect(r.stderr).toContain('providers.local.nimsforest_binary')
    expect(Object.keys(sb.registry().forests)).toEqual([])
  })
})
