import {execFileSync} from 'node:child_process'

import {Sandbox, nodeProcesses} from '../helpers/cli.js'
import {assertMatchesSchema} from '../helpers/json-schema.js'

/**
 * The smoke path a user takes, run with the Node binary in MORPHEUS_TEST_NODE
 * (CI points it at Node 24; by default the Node running the tests).
 */
const NODE = process.env.MORPHEUS_TEST_NODE || process.execPath
const NODE_VERSION = execFileSync(NODE, ['--version']).toString().trim()

describe(`smoke test on Node ${NODE_VERSION}`, () => {
  let sb: Sandbox
  beforeAll(() => {
    sb = new Sandbox()
  })
  afterAll(async () => sb.cleanup())

  test('--version names the Node it runs on', async () => {
    const r = await sb.run(['--version'], {node: NODE})
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toMatch(new RegExp(`^morpheus/\\d+\\.\\d+\\.\\d+ linux-x64 node-${NODE_VERSION.replaceAll('.', '\\.')}$`))
  })

  test('plant, list, status and teardown a local forest', async () => {
    const run = async (args: string[]) => {
      const r = await sb.run([...args, '--json'], {node: NODE})
      if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${r.code}: ${r.stdout} ${r.stderr}`)
      const out = JSON.parse(r.stdout)
      assertMatchesSchema(args, out)
      return out
    }
    const planted = await run(['plant', 'local', 'medium'])
    expect(planted.nodes).toHaveLength(3)
    const id = planted.forest.id
    expect((await run(['list'])).forests.map((f: any) => f.id)).toContain(id)
    const status = await run(['status', id])
    expect(status.health).toBe('healthy')
    expect(status.jetstream_leader).toMatch(/^node-\d$/)
    expect(nodeProcesses(sb.dir)).toHaveLength(3)
    await run(['teardown', id, '--yes'])
    expect(nodeProcesses(sb.dir)).toEqual([])
  })
})
