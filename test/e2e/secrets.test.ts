import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {Sandbox, nodeProcesses} from '../helpers/cli.js'

/** Walk a directory, yielding every file. */
function* files(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, {withFileTypes: true})) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* files(path)
    else if (entry.isFile()) yield path
  }
}

describe('secrets never leak', () => {
  const LITERAL = 'literal-s3cr3t-in-the-file'
  const FROM_ENV = 'env-s3cr3t-from-the-environment'
  let sb: Sandbox
  beforeAll(() => {
    sb = new Sandbox(undefined, {MORPHEUS_TEST_TOKEN: FROM_ENV})
    sb.writeConfig(`secrets:\n  hetzner_api_token: ${LITERAL}\n  storagebox_password: \${MORPHEUS_TEST_TOKEN}\n`)
  })
  afterAll(async () => sb.cleanup())

  test("not in any output, the registry, the node files or the node processes' environment", async () => {
    const outputs: string[] = []
    const run = async (args: string[]) => {
      const r = await sb.run(args)
      outputs.push(r.stdout, r.stderr)
      return r
    }
    const planted = await run(['plant', 'local', 'medium', '--json'])
    expect(planted.code).toBe(0)
    const id = JSON.parse(planted.stdout).forest.id
    for (const args of [
      ['list'],
      ['list', '--json'],
      ['status', id],
      ['status', id, '--json'],
      ['config', 'list'],
      ['config', 'list', '--json'],
      ['config', 'get', 'secrets'],
      ['registry', 'show'],
      ['registry', 'info', '--json'],
    ]) {
      expect((await run(args)).code).toBe(0)
    }
    // A failing command's error output too.
    expect((await run(['status', 'forest-nope', '--json'])).code).toBe(6)

    const leaks = (text: string) => text.includes(LITERAL) || text.includes(FROM_ENV)
    expect(outputs.filter(leaks)).toEqual([])
    // Everything Morpheus wrote, bar the config file the user wrote the literal into.
    for (const file of files(sb.dir)) {
      if (file === join(sb.dir, 'config.yaml') || file.startsWith(join(sb.dir, 'home'))) continue
      expect({file, leaks: leaks(readFileSync(file, 'latin1'))}).toEqual({file, leaks: false})
    }
    for (const pid of nodeProcesses(sb.dir)) {
      expect(leaks(readFileSync(`/proc/${pid}/environ`, 'latin1'))).toBe(false)
    }
    // Files that may hold secrets (config, registry, node configs) are private.
    expect(statSync(sb.registryPath).mode & 0o077).toBe(0)
    for (const node of sb.registry().nodes[id]) expect(statSync(join(node.provider_ref, 'nats.conf')).mode & 0o077).toBe(0)
    expect((await run(['teardown', id, '--yes'])).code).toBe(0)
  })
})
