import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {hetznerConfig} from '../fixtures/hetzner-sim/config.js'
import {HetznerSim} from '../fixtures/hetzner-sim/server.js'
import {Sandbox} from '../helpers/cli.js'

// `plant --dry-run` shows the user data plant sends: the same plant, dry and for real, through the built CLI
// against the Hetzner simulator (which keeps each server's user data). Only what exists only once plant runs may
// differ: the nodes' addresses (Primary IPs allocated at plant; the dry run shows documentation placeholders),
// the forest id (the time of the plant) and the route password (generated at plant; the dry run shows ********).
const TOKEN = 'dry-run-token-2b7e151628aed2a6abf7158809cf4f3c'

describe('plant --dry-run prints exactly the user data plant sends', () => {
  let sim: HetznerSim
  let sb: Sandbox
  let keyDir: string
  beforeAll(async () => {
    sim = new HetznerSim({bootMs: 300, bootNats: true, ipv4Pool: [230, 239], tokens: {ro: [], rw: [TOKEN]}})
    await sim.start()
    keyDir = mkdtempSync(join(tmpdir(), 'morpheus-dry-key-'))
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'operator@dry-run', '-f', join(keyDir, 'id')])
    const base = 20000 + Math.floor(Math.random() * 400) * 100
    const ports = {client: base + 22, cluster: base + 62, monitor: base + 82}
    sb = new Sandbox(hetznerConfig({forest: {ports}, hetzner: {ssh_public_key_path: join(keyDir, 'id.pub')}}), {
      HCLOUD_ENDPOINT: sim.url,
      HCLOUD_TOKEN: TOKEN,
    })
  })
  afterAll(async () => {
    await sim.stop()
    await sb.cleanup()
    rmSync(keyDir, {force: true, recursive: true})
  })

  test("three nodes: each node's user data, peers and SSH key included, is what plant sends", async () => {
    const dry = await sb.runJson(['plant', 'cloud', '--nodes', '3', '--dry-run'], {timeoutMs: 60_000})
    expect(dry.code).toBe(0)
    expect(sim.requests.filter((q) => q.method !== 'GET')).toEqual([])
    const planned = new Map<string, string>(dry.out.nodes.map((n: any) => [n.id, n.user_data]))
    expect([...planned.keys()]).toEqual(['node-1', 'node-2', 'node-3'])

    const real = await sb.runJson(['plant', 'cloud', '--nodes', '3', '--yes'], {timeoutMs: 120_000})
    expect(real.code).toBe(0)
    const forestId: string = real.out.forest.id
    const sent = new Map([...sim.servers.values()].filter((s) => s.labels.forest === forestId).map((s) => [s.labels.node, s.userData]))
    expect([...sent.keys()].sort()).toEqual(['node-1', 'node-2', 'node-3'])

    const password = /user: "morpheus-route"\s+password: "([^"]+)"/.exec(sent.get('node-1')!)![1]
    // The forest's system-account user (nats.conf's SYS account): another secret only a plant knows.
    const admin = /\{user: "morpheus-admin", password: "([^"]+)" \}/.exec(sent.get('node-1')!)![1]
    expect(admin).not.toBe(password)
    const publicKey = readFileSync(join(keyDir, 'id.pub'), 'utf8').trim()
    for (const [id, text] of sent) {
      const plan = planned.get(id)!
      // Each peer of a node is in its user data, in the preview as in what was sent.
      for (const other of real.out.nodes.filter((n: any) => n.id !== id)) {
        expect(text).toContain(`"${other.ipv4}"`)
        expect(text).toContain(`"${other.ipv6}"`)
      }
      expect(plan).toContain(publicKey)
      // The values only a plant knows, replaced by the dry run's placeholders: then the two are the same text.
      let normal = text.split(forestId).join(dry.out.forest.id).split(password).join('********').split(admin).join('********')
      for (const n of real.out.nodes) {
        const k = Number(/(\d+)$/.exec(n.id)![1])
        normal = normal
          .split(n.ipv6)
          .join(`2001:db8::${k.toString(16)}`)
          .split(n.ipv4)
          .join(`192.0.2.${k}`)
      }
      expect(normal).toBe(plan)
    }
    const down = await sb.run(['teardown', forestId, '--yes'], {timeoutMs: 120_000})
    expect(down.code).toBe(0)
    expect(sim.paid()).toEqual({primaryIps: [], servers: []})
    expect(sim.violations).toEqual([])
  }, 240_000)
})
