import {gzipSync} from 'node:zlib'

import type {NatsMode, NodeRecord, UserDataInput} from '../../../src/plugin-api/index.js'
import {bootstrapSettings} from '../../../src/templates/bootstrap.js'
import {storageBoxNodeAccess} from '../../../plugins/registry-storagebox/src/node-access.js'
import {pluginError} from '../../../src/plugins/errors.js'
import {createRenderer} from '../../../src/templates/render.js'
import {findSecret} from '../../helpers/find-secret.js'

// Least privilege on nodes: the registry's own read-write Storage Box password must never reach a
// node. Every node's user data of a Storage Box forest is searched for it, as it is and in the
// encodings user data may carry it in: base64 (at each of the three alignments) and gzip+base64.
const MAIN_PASSWORD = 'Main-RW-pa55word!x7'
const NODE_PASSWORD = 'Node-RO-pa55word!y8'
const registry = {
  password: MAIN_PASSWORD,
  storagebox_host: 'u123456.your-storagebox.de',
  type: 'storagebox',
  url: 'https://u123456.your-storagebox.de/morpheus/registry.json',
  username: 'u123456',
}
const ports = {client: 4222, cluster: 6222, monitor: 8222}

function node(forest: string, i: number): NodeRecord {
  return {
    created_at: '2026-11-24T00:00:00Z',
    forest_id: forest,
    id: `node-${i}`,
    ip: `2001:db8:0:${i}::1`,
    ipv4: `192.0.2.${i}`,
    ipv6: `2001:db8:0:${i}::1`,
    role: 'node',
    status: 'creating',
  }
}

/** Every node's user data of a five-node forest, in both NATS modes. */
async function allUserData(sources: Parameters<typeof bootstrapSettings>[0]): Promise<string[]> {
  const renderer = await createRenderer({bootstrap: bootstrapSettings(sources)})
  const forest = 'forest-1800000000'
  const nodes = [1, 2, 3, 4, 5].map((i) => node(forest, i))
  const out: string[] = []
  for (const mode of ['embedded', 'system'] as NatsMode[]) {
    for (const n of nodes) {
      const input: UserDataInput = {
        cluster: true,
        clusterAuth: {password: 'route-secret', user: 'forest-route'},
        forest: {
          created_at: '2026-11-24T00:00:00Z',
          id: forest,
          last_expansion: null,
          node_count: 5,
          provider: 'hetzner',
          size: 'large',
          status: 'planting',
        },
        ipv4: true,
        natsMode: mode,
        node: n,
        operatorCidrs: ['198.51.100.0/24'],
        peers: nodes.filter((p) => p.id !== n.id),
        ports,
        sshKeys: [],
      }
      out.push(renderer.userData(input))
    }
  }
  return out
}

test('the search finds the password in every encoding it looks for (so a leak cannot slip past it)', () => {
  const planted = [
    `password=${MAIN_PASSWORD}`,
    `content: ${Buffer.from(`a${MAIN_PASSWORD}`).toString('base64')}`,
    `content: ${Buffer.from(`ab${MAIN_PASSWORD}zz`).toString('base64')}`,
    `content: ${gzipSync(Buffer.from(`username=u1\npassword=${MAIN_PASSWORD}\n`)).toString('base64')}\n  encoding: gz+b64`,
  ]
  for (const text of planted) expect(findSecret(text, MAIN_PASSWORD).length).toBeGreaterThan(0)
  expect(findSecret('nothing here', MAIN_PASSWORD)).toEqual([])
})

test.each([
  // what the storagebox backend's nodeAccess() gives (its own function)
  [
    "the registry's secret storage (registry init)",
    {
      nodeAccess: storageBoxNodeAccess(
        registry,
        {password: NODE_PASSWORD, server: 'u123456-sub1.your-storagebox.de', username: 'u123456-sub1'},
        pluginError,
      ),
    },
  ],
  [
    'the config (registry.node_username / node_password)',
    {nodeAccess: storageBoxNodeAccess({...registry, node_password: NODE_PASSWORD, node_username: 'u123456-sub1'}, null, pluginError)},
  ],
])("node account from %s: no node's user data holds the registry's own password, each holds the node account", async (_, sources) => {
  const texts = await allUserData(sources)
  expect(texts).toHaveLength(10)
  for (const text of texts) {
    expect(findSecret(text, MAIN_PASSWORD)).toEqual([])
    // the node account is there (the search would see a password in these user data)
    expect(findSecret(text, NODE_PASSWORD)).toContain('plain')
    expect(text).toContain('username=u123456-sub1')
    expect(text).not.toMatch(/username=u123456\n/)
  }
})
