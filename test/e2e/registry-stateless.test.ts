import {chownSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {nodeProcesses, Sandbox} from '../helpers/cli.js'
import type {ApacheServer} from '../fixtures/webdav/apache.js'
import {WEBDAV_SERVERS} from '../fixtures/webdav/servers.js'

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

// Stateless, end to end, on each real WebDAV server (Apache mod_dav, nginx dav-ext): plant a local
// forest from one HOME with the registry there, then list it, check its status and tear it down
// from a second HOME that holds only a copy of the config file (same machine, so the same device).
describe.each(WEBDAV_SERVERS)('registry on $name', (kind) => {
  let apache: ApacheServer
  const sandboxes: Sandbox[] = []
  beforeAll(async () => {
    apache = await kind.start({folder: 'morpheus'})
  })
  afterAll(async () => {
    for (const s of sandboxes) await s.cleanup()
    apache?.stop()
  })

  /**
   * A sandbox whose registry is `file` on this server (its password from $SB_PASSWORD). The nodes'
   * files are on this machine: an absolute data_dir, so a copy of the config finds them
   * (provider-local resolves a relative one against the config's own directory).
   */
  function sandboxOn(file: string, registryLines: string[] = []): Sandbox {
    const a = new Sandbox(undefined, {SB_PASSWORD: apache.password})
    sandboxes.push(a)
    a.writeRawConfig(
      [
        'registry:',
        '  type: storagebox',
        `  url: ${apache.url}${file}`,
        `  username: ${apache.username}`,
        '  password: ${SB_PASSWORD}',
        ...registryLines,
        'providers:',
        '  local:',
        `    first_address: ${a.firstAddress}`,
        `    data_dir: ${join(a.dir, 'local')}`,
        '',
      ].join('\n'),
    )
    return a
  }

  test('plant from HOME A; list, status and teardown from HOME B with only a copy of the config', async () => {
    const env = {SB_PASSWORD: apache.password}
    const a = sandboxOn('registry.json', [`  storagebox_host: ${apache.host}`])
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

  test('a corrupt secrets file stops a plant with a registry error (exit 4) naming the file; the file is left as it was', async () => {
    const a = sandboxOn('corrupt.json')
    expect((await a.run(['registry', 'init', '--yes', '--json'])).code).toBe(0)
    const path = join(apache.root, 'morpheus', 'corrupt.secrets.json')
    writeFileSync(path, '{"forests": not json')
    const owner = statSync(join(apache.root, 'morpheus'))
    chownSync(path, owner.uid, owner.gid)
    const planted = await a.run(['plant', 'local', 'small', '--json'], {timeoutMs: 120_000})
    expect(planted.code).toBe(4)
    const error = JSON.parse(planted.stdout).error
    expect(error.message).toContain(`${apache.url}corrupt.secrets.json`)
    expect(error.message).toMatch(/corrupt/)
    expect(error.hint).toBeTruthy()
    expect(readFileSync(path, 'utf8')).toBe('{"forests": not json')
    expect(nodeProcesses(a.dir)).toEqual([])
  }, 240_000)
})
