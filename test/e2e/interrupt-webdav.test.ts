import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {Sandbox, collect, nodeProcesses, running, waitFor} from '../helpers/cli.js'
import type {ApacheServer} from '../fixtures/webdav/apache.js'
import {WEBDAV_SERVERS} from '../fixtures/webdav/servers.js'

/** Every nats.pid file under `dir` (the local provider's node folders), with the pid it holds. */
function pidFiles(dir: string): Array<{file: string; pid: number}> {
  const out: Array<{file: string; pid: number}> = []
  if (!existsSync(dir)) return out
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...pidFiles(path))
    else if (name === 'nats.pid') out.push({file: path, pid: Number(readFileSync(path, 'utf8').trim())})
  }
  return out
}

/** What the plant had got to when it was stopped, from its progress lines. */
function phaseOf(stderr: string): string {
  const before = stderr.split(/SIGINT: stopping/)[0]
  if (/Waiting for routes/.test(before)) return 'wait'
  if (/Creating \d+ node/.test(before)) return 'create'
  return 'claim'
}

// "Ctrl-C halfway loses nothing" with a WebDAV registry (real Apache mod_dav and nginx dav-ext):
// SIGINT at several points of a plant (claim, create, wait) must end with exit 130 and no
// unexpected error, a valid registry document that says what exists (no forest left planting),
// and a teardown that removes every node.
describe.each(WEBDAV_SERVERS)('Ctrl-C during a plant with the registry on $name', (kind) => {
  let server: ApacheServer
  const sandboxes: Sandbox[] = []
  let sb: Sandbox
  const phases = new Set<string>()
  beforeAll(async () => {
    server = await kind.start({folder: 'morpheus'})
    sb = new Sandbox(undefined, {SB_PASSWORD: server.password})
    sandboxes.push(sb)
    sb.writeRawConfig(
      [
        'registry:',
        '  type: storagebox',
        `  url: ${server.url}registry.json`,
        `  username: ${server.username}`,
        '  password: ${SB_PASSWORD}',
        `  storagebox_host: ${server.host}`,
        'providers:',
        '  local:',
        `    first_address: ${sb.firstAddress}`,
        `    data_dir: ${join(sb.dir, 'local')}`,
        '',
      ].join('\n'),
    )
    expect((await sb.run(['registry', 'init', '--yes', '--json'])).code).toBe(0)
  }, 60_000)
  afterAll(async () => {
    for (const s of sandboxes) await s.cleanup()
    server?.stop()
  })

  // When to interrupt: a progress line of the plant, then a delay (ms). Fixed delays from the start
  // would mostly hit Node loading (a SIGINT then just ends it) or a plant already done (on this
  // machine it takes about 1 s from the claim); the progress lines tell which phase each one hit.
  // The last one presses Ctrl-C twice (the second quits once the end is recorded).
  test.each([
    ['Claiming the forest', 0, 1],
    ['Claiming the forest', 200, 1],
    ['Creating 3 nodes', 0, 1],
    ['starting nats-server', 0, 1],
    ['Waiting for routes', 0, 1],
    ['Waiting for routes', 100, 1],
    ['starting nats-server', 0, 2],
  ])(
    'SIGINT at "%s" + %i ms (%i×): exit 130, no unexpected error, the registry says what exists, teardown removes it',
    async (line, delay, times) => {
      const child = sb.spawn(['plant', 'local', '--nodes', '3'])
      let stderr = ''
      child.stderr!.on('data', (d) => (stderr += d))
      const done = collect(child, 40_000)
      await waitFor(() => stderr.includes(line), 20_000, 2)
      await new Promise((r) => setTimeout(r, delay))
      child.kill('SIGINT')
      if (times === 2) {
        await new Promise((r) => setTimeout(r, 10))
        child.kill('SIGINT')
      }
      const r = await done
      const context = `at ${line} + ${delay} ms (${times}×), exit ${r.code}\nstderr:\n${stderr}`
      // On a loaded machine a plant can finish (its last registry write under way) before a late signal
      // lands: then it is a finished plant, exit 0 and an active forest, which is also what exists. Only
      // the runs that were interrupted count for the phases test below, which needs claim, create and wait.
      const finished = r.code === 0
      if (!finished) phases.add(phaseOf(stderr))
      expect({code: r.code, context}).toEqual({code: finished ? 0 : 130, context})
      expect(stderr).not.toMatch(/UNEXPECTED|unexpected error|could not record|AbortError|^\s+at .+:\d+:\d+\)?$/m)

      // The stored document parses and passes the CLI's own reading of it (list is schema-checked).
      const doc = JSON.parse(readFileSync(join(server.root, 'morpheus', 'registry.json'), 'utf8'))
      const listed = await sb.json(['list'])
      expect(listed.forests.map((f: {id: string}) => f.id).sort()).toEqual(Object.keys(doc.forests).sort())
      for (const [id, forest] of Object.entries<any>(doc.forests)) {
        expect({id, status: forest.status, operation: forest.operation}).toEqual({
          id,
          operation: null,
          status: finished ? 'active' : 'interrupted',
        })
        // Every running node of the forest is recorded (none as reserved/creating).
        const nodes = doc.nodes[id] as Array<{provider_ref?: string; status: string}>
        for (const n of nodes) expect(['reserved', 'creating']).not.toContain(n.status)
        const refs = nodes.map((n) => n.provider_ref)
        for (const {file, pid} of pidFiles(join(sb.dir, 'local', id))) {
          if (running(pid)) expect(refs).toContain(join(file, '..'))
        }
      }
      for (const id of Object.keys(doc.forests)) {
        const down = await sb.run(['teardown', id, '--yes'], {timeoutMs: 30_000})
        expect({code: down.code, stderr: down.stderr}).toEqual({code: 0, stderr: expect.any(String)})
      }
      expect((await sb.json(['list'])).forests).toEqual([])
      expect(pidFiles(join(sb.dir, 'local')).filter((p) => running(p.pid))).toEqual([])
      expect(nodeProcesses(sb.dir)).toEqual([])
    },
    60_000,
  )

  test('the delays hit the claim, create and wait phases', () => {
    expect([...phases].sort()).toEqual(['claim', 'create', 'wait'])
  })
})
