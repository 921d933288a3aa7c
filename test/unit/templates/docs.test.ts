/**
 * docs/bootstrap.md shows user data exactly as Morpheus renders it: this test renders the same
 * inputs and compares. `MORPHEUS_UPDATE_DOCS=1` rewrites the samples in the doc instead.
 */
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {NodeRecord, UserDataInput} from '../../../src/plugin-api/index.js'
import {bootstrapSettings} from '../../../src/templates/bootstrap.js'
import {storageBoxNodeAccess} from '../../../plugins/registry-storagebox/src/node-access.js'
import {pluginError} from '../../../src/plugins/errors.js'
import {createRenderer} from '../../../src/templates/render.js'
import {ROOT} from '../../helpers/cli.js'
import {cloudInitSchema} from './tools.js'

const DOC = join(ROOT, 'docs', 'bootstrap.md')

function node(i: number): NodeRecord {
  return {
    created_at: '2026-11-24T10:00:00Z',
    forest_id: 'forest-1795476247',
    id: `node-${i}`,
    ip: `2a01:4f8:c012:${i}::1`,
    ipv4: `203.0.113.${10 + i}`,
    ipv6: `2a01:4f8:c012:${i}::1`,
    role: 'node',
    status: 'creating',
  }
}

const input = (natsMode: 'embedded' | 'system'): UserDataInput => ({
  cluster: true,
  clusterAuth: {password: 'Zq4v...per-forest-route-password', user: 'forest-1795476247'},
  forest: {
    created_at: '2026-11-24T10:00:00Z',
    id: 'forest-1795476247',
    last_expansion: null,
    node_count: 3,
    provider: 'hetzner',
    size: 'medium',
    status: 'planting',
  },
  ipv4: true,
  natsMode,
  node: node(2),
  operatorCidrs: ['198.51.100.7/32'],
  peers: [node(1)],
  ports: {client: 4222, cluster: 6222, monitor: 8222},
  sshKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyOnly operator@laptop'],
  systemUser: natsMode === 'system' ? {password: 'Xk2p...per-forest-admin-password', user: 'morpheus-admin'} : null,
})

test('docs/bootstrap.md shows the user data as rendered now (and it is valid)', async () => {
  const settings = bootstrapSettings({
    integration: {nimsforest_sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'},
    // A Storage Box registry, as its backend's nodeAccess() gives it: the nodes' read-only sub-account,
    // as `registry init` keeps it in the registry's secret storage.
    nodeAccess: storageBoxNodeAccess(
      {
        password: 'storage-box-password',
        storagebox_host: 'u123456.your-storagebox.de',
        type: 'storagebox',
        url: 'https://u123456.your-storagebox.de/morpheus/registry.json',
        username: 'u123456',
      },
      {password: 'node-read-only-password', server: 'u123456-sub1.your-storagebox.de', username: 'u123456-sub1'},
      pluginError,
    ),
  })
  const renderer = await createRenderer({bootstrap: settings})
  const samples: Record<string, string> = {embedded: renderer.userData(input('embedded')), system: renderer.userData(input('system'))}
  for (const text of Object.values(samples)) expect(text).not.toContain('storage-box-password')
  let doc = readFileSync(DOC, 'utf8')
  for (const [mode, text] of Object.entries(samples)) {
    expect(cloudInitSchema(text).ok).toBe(true)
    const marker = new RegExp(`(<!-- sample:${mode} -->\\n\`\`\`yaml\\n)([\\s\\S]*?)(\`\`\`\\n)`)
    expect(doc).toMatch(marker)
    if (process.env.MORPHEUS_UPDATE_DOCS) doc = doc.replace(marker, (_, a, __, c) => `${a}${text}${c}`)
    else expect(marker.exec(doc)![2]).toBe(text)
  }
  if (process.env.MORPHEUS_UPDATE_DOCS) writeFileSync(DOC, doc)
})
