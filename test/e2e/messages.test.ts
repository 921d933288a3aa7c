import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {Config} from '@oclif/core'

import {NPM_ENV, ROOT, Sandbox, nodeProcesses, waitFor, running} from '../helpers/cli.js'

/**
 * Exit codes and messages that tell the truth, through the built CLI. File-system failures are
 * made real for root too: a file where a directory belongs (ENOTDIR/EEXIST), and /sys, where
 * nobody (root included) may create files (EACCES) or directories (EPERM).
 */
describe('exit codes and messages', () => {
  const sandboxes: Sandbox[] = []
  const sandbox = (config?: string, env?: NodeJS.ProcessEnv) => {
    const sb = new Sandbox(config, env)
    sandboxes.push(sb)
    return sb
  }
  afterAll(async () => {
    for (const sb of sandboxes) await sb.cleanup()
  })

  /** A plain file, to stand where a directory is expected. */
  const aFile = (sb: Sandbox) => {
    const file = join(sb.dir, 'a-file')
    writeFileSync(file, 'in the way\n')
    return file
  }

  describe('file-system failures: exit 10, the path, the operation and what to do', () => {
    test('config set: a config under /sys (EACCES / EPERM for root too), a HOME that is a file (ENOTDIR)', async () => {
      const sb = sandbox()
      const config = `/sys/morpheus-test-${process.pid}.yaml`
      const denied = await sb.run(['config', 'set', 'forest.parallel', '3'], {env: {MORPHEUS_CONFIG: config}})
      expect(denied.code).toBe(10)
      expect(denied.stderr).toContain(`Error: cannot write the config file ${config}: permission denied (EACCES)`)
      expect(denied.stderr).toMatch(/Hint: Make \/sys writable for .+, or point MORPHEUS_CONFIG at a file in a writable directory\./)
      expect(denied.stderr).not.toMatch(/\.tmp|UNEXPECTED/)

      const json = await sb.run(['config', 'set', 'forest.parallel', '3', '--json'], {
        env: {MORPHEUS_CONFIG: `/sys/morpheus-test-${process.pid}/config.yaml`},
      })
      expect(json.code).toBe(10)
      const error = JSON.parse(json.stdout).error
      expect(error).toMatchObject({code: 'FILESYSTEM', exitCode: 10})
      expect(error.details).toMatchObject({operation: 'create the directory of', path: `/sys/morpheus-test-${process.pid}/config.yaml`})
      expect(['EPERM', 'EACCES']).toContain(error.details.code)

      // HOME is a file: nothing is configured (list works), and writing says which file is in the way.
      const home = aFile(sb)
      const env = {HOME: home, MORPHEUS_CONFIG: ''}
      const list = await sb.run(['list'], {env})
      expect(list.code).toBe(0)
      const set = await sb.run(['config', 'set', 'forest.parallel', '3'], {env})
      expect(set.code).toBe(10)
      expect(set.stderr).toContain(`cannot create the directory of the config file ${join(home, '.morpheus', 'config.yaml')}`)
      expect(set.stderr).toContain(
        `Hint: ${home} is a file where a directory is expected: move it away, or point MORPHEUS_CONFIG at a file in a writable directory.`,
      )
      expect(readFileSync(home, 'utf8')).toBe('in the way\n')
    })

    test('plant: a registry or a local data dir that cannot be created stops the plant before any node exists', async () => {
      const sb = sandbox()
      const blocker = aFile(sb)
      sb.writeConfig(`registry:\n  path: ${join(blocker, 'registry.json')}\n`)
      const registry = await sb.run(['plant', 'local', 'small'])
      expect(registry.code).toBe(10)
      expect(registry.stderr).toContain(
        `registry ${join(blocker, 'registry.json')}: cannot create the directory ${blocker} for the registry: a file is there, not a directory (EEXIST)`,
      )
      expect(registry.stderr).toContain('morpheus config set registry.path')
      expect(nodeProcesses(sb.dir)).toEqual([])

      sb.writeConfig(`registry:\n  path: /sys/morpheus-test-${process.pid}.json\n`)
      const sys = await sb.run(['plant', 'local', 'small'])
      expect(sys.code).toBe(10)
      expect(sys.stderr).toContain(`cannot create the lock file /sys/morpheus-test-${process.pid}.json.lock: permission denied (EACCES)`)

      sb.writeConfig(`providers:\n  local:\n    first_address: ${sb.firstAddress}\n    data_dir: ${join(blocker, 'local')}\n`)
      const data = await sb.run(['plant', 'local', 'small', '--json'])
      expect(data.code).toBe(10)
      expect(JSON.parse(data.stdout).error.message).toBe(
        `provider local: cannot create the local nodes' directory ${join(blocker, 'local')} (providers.local.data_dir): a part of the path is not a directory (ENOTDIR)`,
      )
      expect(JSON.parse(data.stdout).error.hint).toContain('providers.local.data_dir')
      expect(existsSync(sb.registryPath)).toBe(false)
      expect(nodeProcesses(sb.dir)).toEqual([])
    }, 120_000)

    test("autocomplete writes nothing (a cache dir it cannot create is no matter); oclif's plugins install with a data dir it cannot create: exit 10", async () => {
      const sb = sandbox()
      const blocker = aFile(sb)
      const completion = await sb.run(['autocomplete', 'bash'], {env: {MORPHEUS_CACHE_DIR: join(blocker, 'cache')}})
      expect(completion.code).toBe(0)
      expect(completion.stdout.trim().split('\n')).toHaveLength(1)
      expect(completion.stderr).toBe('')
      const plugins = await sb.run(['plugins', 'install', `file:${join(sb.dir, 'none.tgz')}`], {
        env: {...NPM_ENV, MORPHEUS_DATA_DIR: join(blocker, 'data')},
      })
      expect(plugins.code).toBe(10)
      expect(plugins.stderr).toContain('or set MORPHEUS_DATA_DIR to a writable directory.')
    }, 120_000)
  })

  describe('config', () => {
    test('get/unset/set of an unknown key: exit 2 with a did-you-mean; a bad value does not blame the untouched file', async () => {
      const sb = sandbox()
      for (const args of [
        ['config', 'get', 'forest.size'],
        ['config', 'unset', 'forest.size'],
        ['config', 'set', 'forest.size', '3'],
      ]) {
        const r = await sb.run(args)
        expect(r.code).toBe(2)
        expect(r.stderr).toContain('forest.size is not a known key (did you mean "forest.sizes"?)')
      }
      const plugin = await sb.run(['config', 'get', 'providers.local.nats_srever'])
      expect(plugin.code).toBe(2)
      expect(plugin.stderr).toContain('did you mean "providers.local.nats_server"?')

      const path = join(sb.dir, 'config.yaml')
      const before = readFileSync(path, 'utf8')
      const bad = await sb.run(['config', 'set', 'forest.sizes.medium', 'three'])
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain(`Error: forest.sizes.medium must be an integer, got string "three"; ${path} was not changed`)
      expect(bad.stderr).not.toContain(`${path}: `)
      expect(readFileSync(path, 'utf8')).toBe(before)
      const range = await sb.run(['config', 'set', 'providers.local.start_timeout_seconds', 'soon'])
      expect(range.code).toBe(2)
      expect(readFileSync(path, 'utf8')).toBe(before)
    }, 120_000)

    test('unset leaves no empty mapping; get shows what is in effect; unsetting what is not set changes nothing', async () => {
      const sb = sandbox()
      const path = join(sb.dir, 'config.yaml')
      await sb.json(['config', 'set', 'forest.sizes.huge', '9'])
      expect((await sb.json(['config', 'get', 'forest.sizes'])).value).toEqual({huge: 9, large: 5, medium: 3, small: 1})
      expect(await sb.json(['config', 'unset', 'forest.sizes.huge'])).toMatchObject({removed: true})
      expect(readFileSync(path, 'utf8')).not.toMatch(/forest|sizes|\{\}/)
      expect((await sb.json(['config', 'get', 'forest.sizes'])).value).toEqual({large: 5, medium: 3, small: 1})
      expect((await sb.json(['config', 'get', 'providers.local.nats_server'])).value).toBe('nats-server')
      const again = await sb.run(['config', 'unset', 'forest.sizes.huge'])
      expect(again.code).toBe(0)
      expect(again.stdout).toContain('forest.sizes.huge is not set in')
      const none = await sb.run(['config', 'get', 'forest.sizes.huge'])
      expect(none.code).toBe(6)
      expect(none.stderr).toContain('Hint: Set it: `morpheus config set forest.sizes.huge <value>`.')
    }, 120_000)

    test('invalid YAML: the path once, the line, and a hint that does not send the user to a command that fails the same way', async () => {
      const sb = sandbox()
      const path = join(sb.dir, 'config.yaml')
      sb.writeRawConfig('forest:\n  parallel: 2\n  sizes: {small: 1\n  form_timeout_seconds: 5\n')
      for (const args of [['config', 'list'], ['list']]) {
        const r = await sb.run(args)
        expect(r.code).toBe(3)
        expect(r.stderr.split(path).length - 1).toBe(3) // once in the message, twice in the hint's `mv <path> <path>.broken`
        expect(r.stderr).toMatch(
          new RegExp(`^Error: ${path.replaceAll('.', '\\.')}: not valid YAML: .+ \\(line \\d+, column \\d+\\)\nHint: Fix line \\d+ `),
        )
        expect(r.stderr).not.toContain('config list')
      }
    }, 60_000)
  })

  test('a registry written by a newer Morpheus: exit 4, "upgrade", not "corrupt"; the file is untouched', async () => {
    const sb = sandbox()
    const body = JSON.stringify({forests: {}, nodes: {}, updated_at: new Date().toISOString(), version: 2})
    writeFileSync(sb.registryPath, body)
    for (const args of [['list'], ['plant', 'local', 'small'], ['registry', 'verify']]) {
      const r = await sb.run(args)
      expect(r.code).toBe(4)
      expect(r.stderr).toContain('written by a newer Morpheus')
      expect(r.stderr).toMatch(/[Uu]pgrade/)
      expect(r.stderr).not.toContain('corrupt')
    }
    expect(readFileSync(sb.registryPath, 'utf8')).toBe(body)
    expect(nodeProcesses(sb.dir)).toEqual([])
  }, 120_000)

  test('providers.local.nats_server: a path that does not exist is said to not exist, not to be "not on PATH"', async () => {
    const sb = sandbox()
    sb.writeConfig(`providers:\n  local:\n    first_address: ${sb.firstAddress}\n    nats_server: ${join(sb.dir, 'bin', 'nats-server')}\n`)
    const r = await sb.run(['plant', 'local', 'small'])
    expect(r.code).toBe(5)
    expect(r.stderr).toContain(
      `nats-server was not found: ${join(sb.dir, 'bin', 'nats-server')} does not exist (providers.local.nats_server)`,
    )
    expect(r.stderr).not.toContain('not on PATH')
    const notExecutable = aFile(sb)
    sb.writeConfig(`providers:\n  local:\n    first_address: ${sb.firstAddress}\n    nats_server: ${notExecutable}\n`)
    const r2 = await sb.run(['plant', 'local', 'small'])
    expect(r2.code).toBe(5)
    expect(r2.stderr).toContain(`${notExecutable} is not executable`)
  }, 60_000)

  test('status of dead nodes: in words, and no JetStream leader without a quorum', async () => {
    const sb = sandbox()
    const planted = await sb.json(['plant', 'local', 'medium'])
    const id = planted.forest.id
    const pids = ['node-1', 'node-2'].map((n) => JSON.parse(readFileSync(join(sb.dir, 'local', id, n, 'node.json'), 'utf8')).pid as number)
    for (const pid of pids) process.kill(pid, 'SIGKILL')
    await waitFor(() => pids.every((pid) => !running(pid)), 10_000)
    const text = await sb.run(['status', id])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain('not answering: connection refused')
    expect(text.stdout).not.toContain('ECONNREFUSED')
    expect(text.stdout).toMatch(/JetStream leader: none, no quorum \(1 of 3 nodes answers, 2 needed\)/)
    const json = await sb.json(['status', id])
    expect(json.jetstream_leader).toBeNull()
    expect(json.nodes[0].health.error).toBe('connection refused')
    const down = await sb.run(['teardown', id, '--yes'])
    expect(down.code).toBe(0)
    expect(down.stdout).toContain(`Removed forest ${id}: 3 nodes.`)
  }, 180_000)

  test('plurals: two nodes survive no failed node, no more than 1 node would', async () => {
    const sb = sandbox()
    const r = await sb.run(['plant', 'local', '--nodes', '2'])
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(
      'warning: 2 nodes: JetStream needs a majority (2), so this forest survives no failed node, no more than 1 node would',
    )
    const id = /Forest (forest-\d+) planted/.exec(r.stdout)![1]
    expect((await sb.run(['teardown', id, '--yes'])).code).toBe(0)
  }, 180_000)

  test('the empty list suggests the configured cloud provider, or a local forest when none is configured', async () => {
    const sb = sandbox()
    const plain = await sb.run(['list'])
    expect(plain.stdout).toMatch(/Plant one: morpheus plant local small\n$/)
    sb.writeConfig('infrastructure:\n  provider: hetzner\n')
    const cloud = await sb.run(['list'])
    expect(cloud.stdout).toContain(
      'Plant one: morpheus plant cloud small (on hetzner, your infrastructure.provider), or on this machine: morpheus plant local small',
    )
  })

  test('help: --nodes gives its range', async () => {
    const r = await sandbox().run(['plant', '--help'])
    expect(r.stdout).toMatch(/--nodes=<value>\s+Node count, 1 to 100/)
  })

  test("every description of Morpheus's commands, flags and arguments (and its bundled plugins') is a sentence ending with a period, as oclif's own", async () => {
    const config = await Config.load(ROOT)
    const ours = (pluginName: string | undefined) => pluginName === 'morpheus' || Boolean(pluginName?.startsWith('@morpheus/'))
    const bad: string[] = []
    const check = (where: string, text: string | undefined) => {
      if (!text) return
      const first = text.split('\n')[0].trim()
      if (!/^[A-Z`"$]/.test(first) || !/[.?!]$/.test(first)) bad.push(`${where}: ${JSON.stringify(first)}`)
    }
    let checked = 0
    for (const c of config.commands) {
      if (!ours(c.pluginName)) continue
      checked++
      check(`${c.id}`, c.summary ?? c.description)
      for (const [name, flag] of Object.entries(c.flags ?? {})) check(`${c.id} --${name}`, flag.summary ?? flag.description)
      for (const [name, arg] of Object.entries(c.args ?? {})) check(`${c.id} ${name}`, arg.description)
      for (const example of c.examples ?? []) if (typeof example === 'object') check(`${c.id} example`, example.description)
    }
    for (const t of config.topics) if (config.pjson.oclif.topics?.[t.name]) check(`topic ${t.name}`, t.description)
    expect(checked).toBeGreaterThan(15)
    expect(bad).toEqual([])
  })
})
