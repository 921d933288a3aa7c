import {chmodSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {execFileSync} from 'node:child_process'

import {Sandbox, collect, nodeProcesses, waitFor} from '../helpers/cli.js'

const NATS = execFileSync('sh', ['-c', 'command -v nats-server']).toString().trim()

/**
 * A sandbox config whose local nodes run `script` (a shell script wrapping the real nats-server)
 * instead of nats-server; `forest` adds keys under forest:.
 */
function withNatsWrapper(sb: Sandbox, script: string, forest = ''): void {
  const bin = join(sb.dir, 'wrapper')
  mkdirSync(bin)
  writeFileSync(join(bin, 'nats-server'), script)
  chmodSync(join(bin, 'nats-server'), 0o755)
  sb.writeConfig(
    `${forest ? `forest:\n${forest}` : ''}providers:\n  local:\n    first_address: ${sb.firstAddress}\n    nats_server: ${join(bin, 'nats-server')}\n`,
  )
}

describe('bad input and faults: clear errors, stable exit codes, nothing lost', () => {
  const sandboxes: Sandbox[] = []
  const sandbox = (config?: string) => {
    const sb = new Sandbox(config)
    sandboxes.push(sb)
    return sb
  }
  afterAll(async () => {
    for (const sb of sandboxes) await sb.cleanup()
  })

  test('unknown provider: exit 2, the installed providers are listed', async () => {
    const r = await sandbox().run(['plant', 'aws', 'small'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('unknown provider "aws"')
    expect(r.stderr).toMatch(/installed: .*local/)
  })

  test('bad size and --nodes 0: exit 2, nothing is created', async () => {
    const sb = sandbox()
    const size = await sb.run(['plant', 'local', 'gigantic'])
    expect(size.code).toBe(2)
    expect(size.stderr).toContain('unknown size "gigantic"')
    expect(size.stderr).toContain('medium (3 nodes)')
    const zero = await sb.run(['plant', 'local', '--nodes', '0'])
    expect(zero.code).toBe(2)
    expect(zero.stderr).toMatch(/--nodes.*greater than or equal to 1/)
    const json = await sb.run(['plant', 'local', '--nodes', 'x', '--json'])
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout).error.code).toBe('USAGE')
    expect(nodeProcesses(sb.dir)).toEqual([])
  })

  test('no nats-server on PATH: exit 5 with how to install it, nothing recorded', async () => {
    const sb = sandbox()
    const r = await sb.run(['plant', 'local', 'small'], {env: {PATH: dirname(process.execPath)}})
    expect(r.code).toBe(5)
    expect(r.stderr).toContain('nats-server was not found')
    expect(r.stderr).toContain('apt-get install nats-server')
    expect(() => readFileSync(sb.registryPath)).toThrow()
  })

  test('unknown forest id: exit 6 for status and teardown, known ids suggested', async () => {
    const sb = sandbox()
    for (const args of [
      ['status', 'forest-nope'],
      ['teardown', 'forest-nope', '--yes'],
    ]) {
      const r = await sb.run(args)
      expect(r.code).toBe(6)
      expect(r.stderr).toContain('no forest "forest-nope"')
    }
    const json = await sb.run(['status', 'forest-nope', '--json'])
    expect(JSON.parse(json.stdout)).toEqual({error: expect.objectContaining({code: 'NOT_FOUND', exitCode: 6}), ok: false, warnings: []})
  })

  test('corrupt registry: exit 4 naming the file, which is never overwritten', async () => {
    const sb = sandbox()
    const garbage = '{"version": 1, "forests": {"x": '
    writeFileSync(sb.registryPath, garbage)
    for (const args of [['list'], ['plant', 'local', 'small'], ['status', 'x'], ['registry', 'show']]) {
      const r = await sb.run(args)
      expect(r.code).toBe(4)
      expect(r.stderr).toContain(`the registry at ${sb.registryPath} is corrupt`)
      expect(r.stderr).toContain('will not overwrite')
    }
    writeFileSync(sb.registryPath, JSON.stringify({version: 0, forests: {}, nodes: {}}))
    const v = await sb.run(['list'])
    expect(v.code).toBe(4)
    expect(v.stderr).toContain('version must be 1')
    expect(readFileSync(sb.registryPath, 'utf8')).toBe(JSON.stringify({version: 0, forests: {}, nodes: {}}))
    // A newer version is not corruption: this Morpheus is too old for it.
    writeFileSync(sb.registryPath, JSON.stringify({version: 7, forests: {}, nodes: {}}))
    const newer = await sb.run(['list'])
    expect(newer.code).toBe(4)
    expect(newer.stderr).toContain('was written by a newer Morpheus (document version 7; this one reads version 1)')
    expect(readFileSync(sb.registryPath, 'utf8')).toBe(JSON.stringify({version: 7, forests: {}, nodes: {}}))
    expect(nodeProcesses(sb.dir)).toEqual([])
  })

  test('a config value of the wrong type: exit 3 naming the key and the file', async () => {
    const sb = sandbox('forest:\n  sizes:\n    small: one\n')
    const r = await sb.run(['plant', 'local', 'small'])
    expect(r.code).toBe(3)
    expect(r.stderr).toContain(join(sb.dir, 'config.yaml'))
    expect(r.stderr).toContain('forest.sizes.small must be an integer')
    sb.writeConfig('forest:\n  parallell: 2\n')
    const typo = await sb.run(['list'])
    expect(typo.code).toBe(3)
    expect(typo.stderr).toContain('forest.parallell is not a known key (did you mean "parallel"?)')
    sb.writeRawConfig('forest: [1, 2\n')
    const yaml = await sb.run(['list'])
    expect(yaml.code).toBe(3)
    expect(yaml.stderr).toContain(': not valid YAML: ')
    sb.writeConfig('providers:\n  local:\n    start_timeout_seconds: soon\n')
    const plugin = await sb.run(['plant', 'local'])
    expect(plugin.code).toBe(3)
    expect(plugin.stderr).toContain('providers.local.start_timeout_seconds must be an integer')
  })

  test('Ctrl-C during plant: exit 130, the registry lists every process that exists, teardown removes all', async () => {
    const sb = sandbox()
    // A nats-server that takes a moment to start (then becomes the real one, same pid and environment).
    // Its sleep runs without the node's environment: killed during the sleep, the wrapper would leave
    // the sleep behind for a moment, and a real nats-server has no such child.
    withNatsWrapper(sb, `#!/bin/sh\nenv -u MORPHEUS_NODE_DIR sleep 0.4\nexec ${NATS} "$@"\n`, '  parallel: 1\n')
    const child = sb.spawn(['plant', 'local', '--nodes', '5'])
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += d))
    await waitFor(() => stderr.includes('node-2: starting'), 20000)
    child.kill('SIGINT')
    const r = await collect(child)
    expect(r.code).toBe(130)
    expect(stderr).toContain('interrupted')
    const doc = sb.registry()
    const [forestId] = Object.keys(doc.forests)
    expect(doc.forests[forestId].status).toBe('interrupted')
    const listed = doc.nodes[forestId].map((n: any) => n.provider_ref)
    const running = nodeProcesses(sb.dir)
    expect(running.length).toBeGreaterThanOrEqual(1)
    expect(running.length).toBeLessThan(5)
    // Every running node process is one the registry lists (no strays).
    for (const pid of running) {
      const env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')
      const dir = env.find((v) => v.startsWith('MORPHEUS_NODE_DIR='))!.split('=')[1]
      expect(listed).toContain(dir)
    }
    const t = await sb.run(['teardown', forestId, '--yes'])
    expect(t.code).toBe(0)
    expect(nodeProcesses(sb.dir)).toEqual([])
    expect(sb.registry().forests[forestId]).toBeUndefined()
  })

  test.each([
    ['one SIGINT', 0],
    ['two SIGINTs 10 ms apart', 10],
  ])(
    '%s while nodes start: exit 130, nothing printed as progress after the stop message, the registry lists exactly the running nodes, none as creating or planting',
    async (_name, gap) => {
      const sb = sandbox()
      const child = sb.spawn(['plant', 'local', 'large'])
      let stderr = ''
      child.stderr!.on('data', (d) => (stderr += d))
      await waitFor(() => stderr.includes('node-3: creating'), 30000, 10)
      child.kill('SIGINT')
      if (gap) {
        await new Promise((r) => setTimeout(r, gap as number))
        child.kill('SIGINT')
      }
      const r = await collect(child)
      expect(r.code).toBe(130)
      const after = stderr.split('SIGINT: stopping')[1]
      expect(after).toBeDefined()
      expect(after).not.toMatch(/^\s+node-\d: /m)
      expect(after).not.toMatch(/Waiting for routes/)
      const doc = sb.registry()
      const [forestId] = Object.keys(doc.forests)
      expect(doc.forests[forestId]).toMatchObject({operation: null, status: 'interrupted'})
      const running = nodeProcesses(sb.dir)
      const listed = doc.nodes[forestId]
      expect(listed.map((n: any) => n.status).filter((st: string) => st === 'creating' || st === 'reserved')).toEqual([])
      expect(listed).toHaveLength(running.length)
      const list = await sb.json(['list'])
      expect(list.forests[0]).toMatchObject({stale: false, status: 'interrupted'})
      expect((await sb.run(['teardown', forestId, '--yes'])).code).toBe(0)
      expect(nodeProcesses(sb.dir)).toEqual([])
    },
  )

  test('Ctrl-C during teardown: exit 130, the forest stays listed as tearing_down, a second teardown finishes', async () => {
    const sb = sandbox()
    // A node that takes a second to stop after SIGTERM (the pid teardown signals is this wrapper's).
    withNatsWrapper(sb, `#!/bin/bash\n${NATS} "$@" &\nchild=$!\ntrap 'sleep 1; kill -TERM $child; wait $child; exit 0' TERM\nwait $child\n`)
    const planted = await sb.json(['plant', 'local', 'medium'])
    const id = planted.forest.id
    const child = sb.spawn(['teardown', id, '--yes'])
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += d))
    await waitFor(() => stderr.includes('removing'), 10000)
    child.kill('SIGINT')
    const r = await collect(child)
    expect(r.code).toBe(130)
    const doc = sb.registry()
    expect(doc.forests[id].status).toBe('tearing_down')
    expect(doc.nodes[id].length).toBeGreaterThan(0)
    const again = await sb.run(['teardown', id, '--yes'])
    expect(again.code).toBe(0)
    expect(nodeProcesses(sb.dir)).toEqual([])
    expect(sb.registry().forests[id]).toBeUndefined()
  })

  test('a forest that does not form in time: exit 7, recorded as failed with its nodes, teardown removes them', async () => {
    const sb = sandbox()
    // nats-server without its cluster block: every node is healthy, none routes to another.
    withNatsWrapper(sb, `#!/bin/sh\nsed '/^cluster {/,$d' "$2" > "$2.alone"\nexec ${NATS} -c "$2.alone"\n`, '  form_timeout_seconds: 2\n')
    const r = await sb.run(['plant', 'local', 'medium', '--json'])
    expect(r.code).toBe(7)
    const error = JSON.parse(r.stdout).error
    expect(error).toEqual(expect.objectContaining({code: 'NOT_FORMED', exitCode: 7}))
    expect(error.message).toMatch(/did not form within 2s: node-1 0\/2 routes/)
    const id = error.details.forest_id
    const doc = sb.registry()
    expect(doc.forests[id].status).toBe('failed')
    expect(doc.nodes[id]).toHaveLength(3)
    expect(nodeProcesses(sb.dir)).toHaveLength(3)
    expect((await sb.run(['teardown', id, '--yes'])).code).toBe(0)
    expect(nodeProcesses(sb.dir)).toEqual([])
  })

  test('two plants at the same time: two forests, distinct addresses, registry intact', async () => {
    const sb = sandbox()
    const [a, b] = await Promise.all([sb.run(['plant', 'local', 'medium', '--json']), sb.run(['plant', 'local', 'medium', '--json'])])
    expect([a.code, b.code]).toEqual([0, 0])
    const ra = JSON.parse(a.stdout)
    const rb = JSON.parse(b.stdout)
    expect(ra.forest.id).not.toBe(rb.forest.id)
    const ips = [...ra.nodes, ...rb.nodes].map((n: any) => n.ip)
    expect(new Set(ips).size).toBe(6)
    const doc = sb.registry()
    expect(Object.keys(doc.forests).sort()).toEqual([ra.forest.id, rb.forest.id].sort())
    expect(doc.nodes[ra.forest.id]).toHaveLength(3)
    expect(doc.nodes[rb.forest.id]).toHaveLength(3)
    expect(nodeProcesses(sb.dir)).toHaveLength(6)
    for (const id of [ra.forest.id, rb.forest.id]) expect((await sb.run(['teardown', id, '--yes'])).code).toBe(0)
    expect(nodeProcesses(sb.dir)).toEqual([])
  })
})
