import {gzipSync, gunzipSync} from 'node:zlib'

import type {NatsMode, NodeRecord, UserDataInput} from '../../../src/plugin-api/index.js'
import {bootstrapSettings} from '../../../src/templates/bootstrap.js'
import {createRenderer} from '../../../src/templates/render.js'

// Least privilege on nodes: the registry's own read-write Storage Box password must never reach a
// node. Every node's user data of a Storage Box forest is searched for it, as it is and in the
// encodings user data may carry it in: base64 (at each of the three alignments) and gzip+base64.
const MAIN_PASSWORD = 'Main-RW-pa55word!x7'
const NODE_PASSWORD = 'Node-RO-pa55word!y8'
const registry = {password: MAIN_PASSWORD, storagebox_host: 'u123456.your-storagebox.de', type: 'storagebox', url: 'https://u123456.your-storagebox.de/morpheus/registry.json', username: 'u123456'}
const ports = {client: 4222, cluster: 6222, monitor: 8222}

/** Where `secret` occurs in `text`: plain, base64 at any alignment, or inside any base64 blob (gzipped or not). */
export function findSecret(text: string, secret: string): string[] {
  const found: string[] = []
  if (text.includes(secret)) found.push('plain')
  for (let shift = 0; shift < 3; shift++) {
    // base64 of the secret preceded by `shift` bytes: drop the characters those bytes touch.
    const b64 = Buffer.from('x'.repeat(shift) + secret).toString('base64')
    const core = b64.slice(Math.ceil((shift * 4) / 3), b64.length - 4)
    if (core.length >= 8 && text.includes(core)) found.push(`base64 (offset ${shift})`)
  }
  for (const blob of text.match(/[A-Za-z0-9+/]{16,}={0,2}/g) ?? []) {
    const bytes = Buffer.from(blob, 'base64')
    let decoded = bytes.toString('latin1')
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        decoded = gunzipSync(bytes).toString('latin1')
      } catch {
        // not gzip after all
      }
    }
    if (decoded.includes(secret)) found.push(`in a base64${bytes[0] === 0x1f ? ' gzip' : ''} blob`)
  }
  return found
}

function node(forest: string, i: number): NodeRecord {
  return {created_at: '2026-11-24T00:00:00Z', forest_id: forest, id: `node-${i}`, ip: `2001:db8:0:${i}::1`, ipv4: `192.0.2.${i}`, ipv6: `2001:db8:0:${i}::1`, role: 'node', status: 'creating'}
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
        cluster: true, clusterAuth: {password: 'route-secret', user: 'forest-route'},
        forest: {created_at: '2026-11-24T00:00:00Z', id: forest, last_expansion: null, node_count: 5, provider: 'hetzner', size: 'large', status: 'planting'},
        ipv4: true, natsMode: mode, node: n, operatorCidrs: ['198.51.100.0/24'], peers: nodes.filter((p) => p.id !== n.id), ports, sshKeys: [],
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
  ['the registry\'s secret storage (registry init)', {nodeMount: {password: NODE_PASSWORD, server: 'u123456-sub1.your-storagebox.de', username: 'u123456-sub1'}, registry}],
  ['the config (registry.node_username / node_password)', {registry: {...registry, node_password: NODE_PASSWORD, node_username: 'u123456-sub1'}}],
])('node account from %s: no node\'s user data holds the registry\'s own password, each holds the node account', async (_, sources) => {
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
