import {spawn} from 'node:child_process'
import {execFileSync} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {BIN, ROOT, Sandbox, collect, type CliResult} from '../helpers/cli.js'

/**
 * bin/run.js answers `morpheus --version` without loading oclif (start-up time: see bench/run.js). Its line must be
 * exactly the one oclif prints, and oclif must keep every other case. Run with the Node in MORPHEUS_TEST_NODE when set.
 */
const NODE = process.env.MORPHEUS_TEST_NODE || process.execPath
const NODE_VERSION = execFileSync(NODE, ['--version']).toString().trim()

/**
 * Reports on stderr, at exit, whether @oclif/core was loaded: from node_modules or inside the bundle (dist/bundle/cli.js),
 * its settings module sets globalThis.oclif as it loads.
 */
const PROBE = `process.on('exit', () => process.stderr.write('\\nOCLIF_LOADED=' + (globalThis.oclif !== undefined) + '\\n'))\n`

interface Run extends CliResult {
  oclifLoaded: boolean
}

describe(`start-up paths on Node ${NODE_VERSION}`, () => {
  let sb: Sandbox
  let probe: string
  beforeAll(() => {
    sb = new Sandbox()
    probe = join(sb.dir, 'probe.cjs')
    writeFileSync(probe, PROBE)
  })
  afterAll(async () => sb.cleanup())

  const finish = async (args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> => {
    const child = spawn(NODE, ['-r', probe, ...args], {cwd, env: {...sb.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    const r = await collect(child, 30000)
    const match = r.stderr.match(/\n?OCLIF_LOADED=(true|false)\n$/)
    if (!match) throw new Error(`no probe line in stderr: ${r.stderr}`)
    return {...r, oclifLoaded: match[1] === 'true', stderr: r.stderr.slice(0, match.index)}
  }

  /** The CLI as users run it. */
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => finish([BIN, ...args], sb.dir, env)

  /** oclif's own answer: its execute() on the same CLI root, with none of bin/run.js. */
  const oclif = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    finish(
      [
        '--input-type=module',
        '-e',
        `import {execute} from '@oclif/core'\nawait execute({args: ${JSON.stringify(args)}, dir: ${JSON.stringify(pathToFileURL(BIN).href)}})`,
      ],
      ROOT,
      env,
    )

  const same = (a: Run, b: Run) => {
    expect({code: a.code, stderr: a.stderr, stdout: a.stdout}).toEqual({code: b.code, stderr: b.stderr, stdout: b.stdout})
  }

  test.each([['--version'], ['-v']])('%s prints exactly what oclif prints, without loading oclif', async (flag) => {
    const fast = await cli([flag])
    const own = await oclif([flag])
    expect(own.oclifLoaded).toBe(true)
    expect(own.code).toBe(0)
    expect(own.stdout).toMatch(new RegExp(`^morpheus/\\d+\\.\\d+\\.\\d+ \\S+-\\S+ node-${NODE_VERSION.replaceAll('.', '\\.')}\\n$`))
    same(fast, own)
    expect(fast.stderr).toBe('')
    expect(fast.oclifLoaded).toBe(false)
  })

  test('every other case is left to oclif, with the same result', async () => {
    for (const args of [['--version', 'extra'], ['-v', 'extra'], ['version'], ['--help'], ['-h'], []]) {
      const mine = await cli(args)
      expect([args, mine.oclifLoaded]).toEqual([args, true])
      same(mine, await oclif(args))
    }

    // DEBUG asks for oclif's debug output.
    const debug = await cli(['--version'], {DEBUG: 'oclif:main'})
    expect(debug.oclifLoaded).toBe(true)
    expect(debug.stderr).toContain('oclif:main')
  })

  test('with user plugins possibly installed (a package.json in the data dir), --version is left to oclif', async () => {
    const dataDir = join(sb.dir, 'data-with-plugins')
    mkdirSync(dataDir, {recursive: true})
    writeFileSync(join(dataDir, 'package.json'), JSON.stringify({name: 'morpheus', oclif: {plugins: [], schema: 1}, private: true}))
    const env = {MORPHEUS_DATA_DIR: dataDir}
    const mine = await cli(['--version'], env)
    expect(mine.oclifLoaded).toBe(true)
    same(mine, await oclif(['--version'], env))
  })

  test('no plugin of the CLI declares an init or finally hook (oclif runs those around --version; the fast path does not)', async () => {
    const script = `import {Config} from '@oclif/core'
const config = await Config.load(${JSON.stringify(pathToFileURL(BIN).href)})
console.log(JSON.stringify(config.getPluginsList().map((p) => [p.name, Object.keys(p.hooks ?? {})])))`
    const child = spawn(NODE, ['--input-type=module', '-e', script], {cwd: ROOT, env: sb.env, stdio: ['ignore', 'pipe', 'pipe']})
    const r = await collect(child, 30000)
    expect(r.code).toBe(0)
    const plugins: Array<[string, string[]]> = JSON.parse(r.stdout)
    expect(plugins.map(([name]) => name)).toEqual(
      expect.arrayContaining(['morpheus', '@morpheus/provider-local', '@morpheus/registry-none', '@oclif/plugin-help']),
    )
    expect(plugins.filter(([, hooks]) => hooks.includes('init') || hooks.includes('finally'))).toEqual([])
  })
})
