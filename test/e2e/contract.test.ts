import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {ROOT, Sandbox, collect, nodeProcesses, waitFor} from '../helpers/cli.js'

const FIXTURES = join(ROOT, 'test', 'fixtures', 'plugins')

async function routes(monitor: string): Promise<number> {
  const varz: any = await (await fetch(`${monitor}/varz`)).json()
  return varz.routes
}

/**
 * Plugin contract 2 end to end, through the built CLI: providers that give every node the same
 * address with ports of its own, and providers whose addresses exist only once a node is created,
 * both plant a formed forest, report it and tear it down. Then ownership of machine-local forests
 * and a plant killed halfway.
 */
describe('contract 2 end to end', () => {
  const sandboxes: Sandbox[] = []
  const sandbox = (config?: string, env: NodeJS.ProcessEnv = {}) => {
    const sb = new Sandbox(config, env)
    sandboxes.push(sb)
    return sb
  }
  afterAll(async () => {
    for (const sb of sandboxes) await sb.cleanup()
  })

  async function linked(): Promise<Sandbox> {
    const sb = sandbox()
    const first = sb.firstAddress
    sb.writeRawConfig(
      `providers:\n  local:\n    first_address: ${first}\n  ports:\n    first_address: ${first}\n    first_port: ${20000 + Math.floor(Math.random() * 9000)}\n  late:\n    first_address: ${first}\n`,
    )
    const r = await sb.run(['plugins', 'link', join(FIXTURES, 'variants'), '--no-install'])
    if (r.code !== 0) throw new Error(`plugins link exited ${r.code}\n${r.stdout}\n${r.stderr}`)
    return sb
  }

  test('one address, ports per node: plant forms a 3-node forest, status is healthy on those ports, teardown removes it', async () => {
    const sb = await linked()
    const planted = await sb.json(['plant', 'ports', 'medium'])
    const nodes = planted.nodes
    expect(new Set(nodes.map((n: any) => n.ip)).size).toBe(1)
    expect(new Set(nodes.map((n: any) => n.ports.client)).size).toBe(3)
    for (const n of nodes) {
      expect(n.monitor).toBe(`http://${n.ip}:${n.ports.monitor}`)
      expect(await routes(n.monitor)).toBe(2)
    }
    const status = await sb.json(['status', planted.forest.id])
    expect(status.health).toBe('healthy')
    expect(status.nodes.map((n: any) => n.monitor)).toEqual(nodes.map((n: any) => n.monitor))
    expect((await sb.run(['teardown', planted.forest.id, '--yes'])).code).toBe(0)
    expect(nodeProcesses(sb.dir)).toEqual([])
  })

  test('addresses known only at create: every address is recorded, the forest forms, status and teardown work', async () => {
    const sb = await linked()
    const planted = await sb.json(['plant', 'late', '--nodes', '3'])
    const ips = planted.nodes.map((n: any) => n.ip)
    expect(ips.every((ip: string) => ip.startsWith('127.'))).toBe(true)
    expect(new Set(ips).size).toBe(3)
    expect(sb.registry().nodes[planted.forest.id].map((n: any) => n.ip)).toEqual(ips)
    for (const n of planted.nodes) expect(await routes(n.monitor)).toBe(2)
    expect((await sb.json(['status', planted.forest.id])).health).toBe('healthy')
    expect((await sb.run(['teardown', planted.forest.id, '--yes'])).code).toBe(0)
    expect(nodeProcesses(sb.dir)).toEqual([])
  })

  test('another device sees a local forest but does not touch it; --force drops only the entry', async () => {
    const sb = sandbox()
    const planted = await sb.json(['plant', 'local', 'small'])
    const id = planted.forest.id
    expect(sb.registry().forests[id].device).toBeTruthy()
    const other = {MORPHEUS_DEVICE: 'someone-elses-laptop'}

    const status = await sb.json(['status', id], {env: other})
    expect(status).toMatchObject({device: sb.registry().forests[id].device, health: 'elsewhere'})
    const text = await sb.run(['status', id], {env: other})
    expect(text.stdout).toMatch(/runs on device .*; its nodes are processes there/)

    const refused = await sb.run(['teardown', id, '--yes'], {env: other})
    expect(refused.code).toBe(9)
    expect(refused.stderr).toMatch(/Error: forest .* runs on device .*tearing it down from this device would touch nothing of it/)
    expect(refused.stderr).toContain(`teardown ${id} --force --yes`)
    expect(nodeProcesses(sb.dir)).toHaveLength(1)

    const forced = await sb.runJson(['teardown', id, '--yes', '--force'], {env: other})
    expect(forced.code).toBe(0)
    expect(forced.out).toMatchObject({entry_only: true, forest: {id}, removed: []})
    // The warning is in the JSON envelope (on stderr without --json).
    expect(forced.out.warnings).toEqual([{message: expect.stringMatching(/keep running/)}])
    expect(sb.registry().forests[id]).toBeUndefined()
    // Its process still runs (the sandbox's clean-up stops it by pid).
    expect(nodeProcesses(sb.dir)).toHaveLength(1)
  })

  test('plant --dry-run creates and writes nothing; --json gives every node its user_data field and the files it would get', async () => {
    const sb = sandbox()
    const plan = await sb.json(['plant', 'local', 'medium', '--dry-run'])
    expect(plan.dry_run).toBe(true)
    expect(plan.nodes).toHaveLength(3)
    for (const n of plan.nodes) {
      expect(n).toHaveProperty('user_data', null)
      const [conf] = Object.values(n.files) as string[]
      expect(conf).toContain(`server_name: "${n.id}"`)
      expect(conf).toContain('password: "********"')
    }
    expect(plan.route_password).toMatch(/^\*{8} \(generated at plant/)
    expect(existsSync(sb.registryPath)).toBe(false)
    expect(existsSync(join(sb.dir, 'local'))).toBe(false)
    expect(nodeProcesses(sb.dir)).toEqual([])
    const text = await sb.run(['plant', 'local', '--nodes', '2', '--dry-run'])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/^Dry run: nothing was created or written/)
  })

  test('a plant killed halfway (SIGKILL) is listed as stale, with the way out', async () => {
    const sb = sandbox()
    const child = sb.spawn(['plant', 'local', '--nodes', '3'])
    await waitFor(() => nodeProcesses(sb.dir).length >= 1, 20000, 20)
    child.kill('SIGKILL')
    await collect(child)
    const list = await sb.json(['list'])
    expect(list.forests).toHaveLength(1)
    expect(list.forests[0]).toMatchObject({stale: true, status: 'planting'})
    const text = await sb.run(['list'])
    expect(text.stdout).toMatch(/planting \(stale: teardown or re-plant\)/)
    const status = await sb.run(['status', list.forests[0].id])
    expect(status.stdout).toMatch(/Stale: Its plant was stopped before it finished/)
    const down = await sb.run(['teardown', list.forests[0].id, '--yes'])
    expect(down.code).toBe(0)
    expect(nodeProcesses(sb.dir)).toEqual([])
  })
})
