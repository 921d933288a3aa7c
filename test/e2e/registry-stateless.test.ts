import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {nodeProcesses, Sandbox} from '../helpers/cli.js'
import {startApache, type ApacheServer} from '../fixtures/webdav/apache.js'

// Stateless, end to end: plant a local forest from one HOME with the registry on Apache mod_dav,
// then list it, check its status and tear it down from a second HOME that holds only a copy of
// the config file (same machine, so the same device).
let apache: ApacheServer
const sandboxes: Sandbox[] = []
beforeAll(async () => {
  apache = await startApache({folder: 'morpheus'})
})
afterAll(async () => {
  for (const s of sandboxes) await s.cleanup()
  apache?.stop()
})

/** Every process's command line on this machine (what `ps` shows). */
function processList(): string {
  let all = ''
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      all += readFileSync(`/proc/${entry}/cmdline`, 'latin1').replaceAll('\0', ' ') + '\n'
    } catch {
      // gone
    }
  }
  return all
}

test('plant from HOME A; list, status and teardown from HOME B with only a copy of the config', async () => {
  const env = {SB_PASSWORD: apache.password}
  const a = new Sandbox(undefined, env)
  sandboxes.push(a)
  // The nodes' files are on this machine: an absolute data_dir, so the copied config finds them
  // (provider-local resolves a relative one against the config's own directory: see the report).
  a.writeRawConfig([
    'registry:', '  type: storagebox', `  url: ${apache.url}registry.json`, `  username: ${apache.username}`, '  password: ${SB_PASSWORD}', `  storagebox_host: ${apache.host}`,
    'providers:', '  local:', `    first_address: ${a.firstAddress}`, `    data_dir: ${join(a.dir, 'local')}`, '',
  ].join('\n'))
  const init = await a.json(['registry', 'init', '--yes'])
  expect(init.probe.concurrency).toBe('lock')
  const planted = await a.run(['plant', 'local', 'small', '--json'], {timeoutMs: 120_000})
  expect(planted.code).toBe(0)
  const forest = JSON.parse(planted.stdout).forest
  expect(nodeProcesses(a.dir)).toHaveLength(1)
  expect(processList()).not.toContain(apache.password)

  const b = new Sandbox(undefined, env)
  sandboxes.push(b)
  b.writeRawConfig(readFileSync(join(a.dir, 'config.yaml'), 'utf8'))
  expect(b.env.HOME).not.toBe(a.env.HOME)
  const listed = await b.json(['list'])
  expect(listed.forests.map((f: {id: string}) => f.id)).toEqual([forest.id])
  const status = await b.json(['status', forest.id])
  expect(status.health).toBe('healthy')
  const down = await b.run(['teardown', forest.id, '--yes', '--json'], {timeoutMs: 60_000})
  expect(down.code).toBe(0)
  expect(nodeProcesses(a.dir)).toEqual([])
  expect((await a.json(['list'])).forests).toEqual([])

  const stored = readFileSync(join(apache.root, 'morpheus', 'registry.json'), 'utf8')
  expect(stored).not.toContain(apache.password)
  for (const r of [planted, down]) expect(r.stdout + r.stderr).not.toContain(apache.password)
}, 240_000)
