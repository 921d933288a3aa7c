import {load} from 'js-yaml'
import {mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {validateCore} from '../../../src/config/config.js'
import {validateAgainst} from '../../../src/config/schema.js'
import {configSchema as hetznerSchema} from '../../../plugins/provider-hetzner/src/schema.js'
import {fingerprint} from '../../../plugins/provider-hetzner/src/ssh.js'
import {hetznerConfig, SIM_HETZNER} from '../../fixtures/hetzner-sim/config.js'
import {realNodesConfig, sshKey} from '../../fixtures/real-nodes/config.js'
import {NET} from '../../fixtures/real-nodes/network.js'

// The one builder of the Hetzner simulator's config (e2e tests and benchmarks): what it writes is a valid config, with
// exactly the keys asked for.
const parse = (text: string) => load(text) as Record<string, any>

function assertValid(text: string): Record<string, any> {
  const config = parse(text)
  expect(() => validateCore(config, 'config.yaml')).not.toThrow()
  expect(validateAgainst(hetznerSchema, config.providers.hetzner, 'providers.hetzner')).toEqual([])
  return config
}

describe('hetznerConfig (test/fixtures/hetzner-sim/config.ts)', () => {
  test('the defaults: the local registry, the token from HCLOUD_TOKEN, the loopback simulator settings', () => {
    expect(assertValid(hetznerConfig())).toEqual({
      forest: {form_timeout_seconds: 60},
      infrastructure: {provider: 'hetzner'},
      providers: {hetzner: {...SIM_HETZNER}},
      registry: {type: 'none'},
      secrets: {hetzner_api_token: '${HCLOUD_TOKEN}'},
    })
  })

  test('what a caller gives is merged over the defaults; undefined and null leave a key or section out', () => {
    const ports = {client: 30022, cluster: 30062, monitor: 30082}
    const config = assertValid(
      hetznerConfig({
        forest: {parallel: undefined, ports},
        hetzner: {boot_timeout_seconds: undefined, ssh_public_key_path: '/k/id.pub'},
        registry: null,
        token: null,
      }),
    )
    expect(config).toEqual({
      forest: {form_timeout_seconds: 60, ports},
      infrastructure: {provider: 'hetzner'},
      providers: {
        hetzner: {operator_cidrs: ['127.0.0.1/32'], poll_interval_seconds: 0.2, route_via: 'ipv4', ssh_public_key_path: '/k/id.pub'},
      },
    })
    expect(parse(hetznerConfig({token: '${MY_HETZNER_TOKEN}'})).secrets).toEqual({hetzner_api_token: '${MY_HETZNER_TOKEN}'})
  })

  test("realNodesConfig: the real machines' network and waits, integration keys kept with their types", () => {
    const config = assertValid(
      realNodesConfig(
        {nats_install: true, nats_version: '2.10.24'},
        {identityFile: '/run/k/id', publicKeyPath: '/run/k/id.pub'},
        {forest: {nats_mode: 'embedded'}, hetzner: {ipv4: false}},
      ),
    )
    expect(config.forest).toEqual({form_timeout_seconds: 240, nats_mode: 'embedded'})
    expect(config.integration).toEqual({nats_install: true, nats_version: '2.10.24'})
    expect(config.providers.hetzner).toEqual({
      boot_timeout_seconds: 300,
      ipv4: false,
      operator_cidrs: NET.operatorCidrs,
      poll_interval_seconds: 0.5,
      ssh_identity_file: '/run/k/id',
      ssh_public_key_path: '/run/k/id.pub',
    })
  })

  test('sshKey: a new ed25519 pair in the given folder, the private key 0600, the public one a key Hetzner takes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'real-nodes-key-'))
    try {
      const key = sshKey(dir)
      expect(key).toEqual({identityFile: join(dir, 'id_ed25519'), publicKeyPath: join(dir, 'id_ed25519.pub')})
      expect(statSync(key.identityFile).mode & 0o777).toBe(0o600)
      expect(readFileSync(key.identityFile, 'utf8')).toContain('BEGIN OPENSSH PRIVATE KEY')
      const pub = readFileSync(key.publicKeyPath, 'utf8').trim()
      expect(pub).toMatch(/^ssh-ed25519 AAAA\S+ morpheus-real-nodes-id_ed25519$/)
      expect(fingerprint(pub)).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/)
      // A second pair is another key (each run its own).
      expect(readFileSync(sshKey(dir, 'other').publicKeyPath, 'utf8')).not.toContain(pub.split(' ')[1])
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })
})
