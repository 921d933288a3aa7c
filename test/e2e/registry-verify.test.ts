import {writeFileSync} from 'node:fs'

import {Sandbox} from '../helpers/cli.js'

// `registry verify` through the built CLI on registries with several forests: node ids repeat
// across forests (every forest has a node-1), which is how every plant leaves them.
const sandboxes: Sandbox[] = []
afterAll(async () => {
  for (const s of sandboxes) await s.cleanup()
})

const AT = '2026-01-01T00:00:00.000Z'

/** A document of `count` local forests of one device, node-1..node-3 each, every node on its own address. */
function document(count: number): any {
  const doc: any = {forests: {}, nodes: {}, updated_at: AT, version: 1}
  for (let f = 0; f < count; f++) {
    const id = `forest-${1795476300 + f}`
    doc.forests[id] = {
      created_at: AT,
      device: 'device-a',
      id,
      last_expansion: null,
      node_count: 3,
      operation: null,
      ports: {client: 4222, cluster: 6222, monitor: 8222},
      provider: 'local',
      size: 'medium',
      status: 'active',
    }
    doc.nodes[id] = [1, 2, 3].map((n) => ({
      created_at: AT,
      forest_id: id,
      id: `node-${n}`,
      ip: `127.0.9.${f * 3 + n}`,
      ipv4: `127.0.9.${f * 3 + n}`,
      role: 'edge',
      status: 'active',
    }))
  }
  return doc
}

test('two forests planted for real: verify says sound (exit 0), in text and --json', async () => {
  const s = new Sandbox()
  sandboxes.push(s)
  const a = await s.json(['plant', 'local', 'small'])
  const b = await s.json(['plant', 'local', 'small'])
  expect(a.nodes[0].id).toBe('node-1')
  expect(b.nodes[0].id).toBe('node-1')
  const verified = await s.json(['registry', 'verify'])
  expect(verified).toMatchObject({forest_count: 2, node_count: 2, ok: true, problems: [], warnings: []})
  const text = await s.run(['registry', 'verify'])
  expect(text.code).toBe(0)
  expect(text.stdout).toMatch(/is sound: 2 forests, 2 nodes/)
  expect(text.stdout + text.stderr).not.toMatch(/listed in both|restore/)
}, 120_000)

test.each([2, 5])(
  '%i forests of node-1..node-3: sound; one address taken twice is the only problem, with a hint that is not "restore"',
  async (count) => {
    const s = new Sandbox()
    sandboxes.push(s)
    const doc = document(count)
    writeFileSync(s.registryPath, JSON.stringify(doc, null, 2) + '\n', {mode: 0o600})
    const sound = await s.json(['registry', 'verify'])
    expect(sound).toMatchObject({forest_count: count, node_count: count * 3, problems: []})

    const ids = Object.keys(doc.forests)
    const last = ids.at(-1)!
    doc.nodes[last][1].ip = doc.nodes[ids[0]][0].ip
    writeFileSync(s.registryPath, JSON.stringify(doc, null, 2) + '\n', {mode: 0o600})
    const bad = await s.runJson(['registry', 'verify'])
    expect(bad.code).toBe(4)
    expect(bad.out.error.details.problems).toEqual([
      `address 127.0.9.1 port 4222 is used by both ${ids[0]}/node-1 and ${last}/node-2 (provider local, device device-a)`,
    ])
    expect(bad.out.error.hint).toMatch(/morpheus status <forest>/)
    expect(bad.out.error.hint).not.toMatch(/registry restore/)
    const text = await s.run(['registry', 'verify'])
    expect(text.code).toBe(4)
    expect(text.stderr).toContain(`is used by both ${ids[0]}/node-1 and ${last}/node-2`)
    expect(text.stderr).not.toMatch(/listed in both|registry restore/)
  },
  120_000,
)
