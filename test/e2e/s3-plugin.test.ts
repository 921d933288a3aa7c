/**
 * The S3 registry plugin as a user gets it: packed into a tarball (AWS SDK bundled), installed with
 * `morpheus plugins install` into an isolated data dir with no npm registry reachable, used by the
 * built CLI against s3rver (a real S3 server that ignores conditional writes, so the probe must
 * refuse and everything else runs with the unsafe switch), and uninstalled.
 * Compare-and-swap itself is tested against the S3 simulator in plugins/registry-s3/test/.
 */
import {execFile, execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {promisify} from 'node:util'

import {NPM_ENV, ROOT, Sandbox, nodeProcesses, type CliResult} from '../helpers/cli.js'
import {assertMatchesSchema} from '../helpers/json-schema.js'
import {pluginContext} from '../helpers/unit.js'
import {createS3Registry} from '../../plugins/registry-s3/src/s3-registry.js'
import {FakeS3} from '../../plugins/registry-s3/test/fixtures/fake-s3.js'
import {S3rverProcess} from '../../plugins/registry-s3/test/fixtures/s3rver.js'

const run = promisify(execFile)

/** The Node the CLI runs under: MORPHEUS_TEST_NODE when set (CI runs this file again on Node 24). */
const NODE = process.env.MORPHEUS_TEST_NODE || process.execPath

const PLUGIN_DIR = join(ROOT, 'plugins', 'registry-s3')
const PLUGIN = '@morpheus/registry-s3'

/** Distinctive so that any leak is found; s3rver accepts this pair besides its built-in one. */
const ACCESS = 'MORPHEUSS3TESTKEYID7'
const SECRET = 'mRph-S3cret/Key+xQ9z7Vw2'

function npmCli(): string {
  const require = createRequire(join(ROOT, 'node_modules', '@oclif', 'plugin-plugins', 'package.json'))
  return join(dirname(require.resolve('npm/package.json')), 'bin', 'npm-cli.js')
}

/** Loaded with `node -r`: at exit, writes how many modules of @aws-sdk this process loaded to $SDK_PROBE_OUT. */
const SDK_PROBE = `process.on('exit', () => require('node:fs').writeFileSync(process.env.SDK_PROBE_OUT, String(Object.keys(require.cache).filter((k) => k.includes('/@aws-sdk/')).length)))\n`

describe(`@morpheus/registry-s3 under Node ${execFileSync(NODE, ['--version']).toString().trim()}: packed, installed from the tarball, used against s3rver, uninstalled`, () => {
  const server = new S3rverProcess('forests', ACCESS, SECRET)
  let sb: Sandbox
  let packDir: string
  let tarball = ''
  /** Every command's output, checked for the keys at the end. */
  const outputs: string[] = []

  const config = (extra = '') =>
    sb.writeRawConfig(`registry:
  type: s3
  endpoint: ${server.endpoint}
  bucket: forests
  key: team/registry.json
  force_path_style: true
  access_key_id: \${TEST_S3_KEY}
  secret_access_key: \${TEST_S3_SECRET}
${extra}providers:
  local:
    first_address: ${sb.firstAddress}
`)

  const cli = async (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> => {
    const r = await sb.run(args, {env, node: NODE, timeoutMs: 90_000})
    outputs.push(r.stdout, r.stderr)
    return r
  }

  const ok = async (args: string[], env: NodeJS.ProcessEnv = {}): Promise<any> => {
    const r = await cli([...args, '--json'], env)
    if (r.code !== 0) throw new Error(`morpheus ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`)
    const out = JSON.parse(r.stdout)
    assertMatchesSchema(args, out)
    return out
  }

  /** The plugin's own backend from the source tree, on the same bucket, to look at what s3rver holds. */
  const direct = () =>
    createS3Registry(
      pluginContext({
        access_key_id: ACCESS,
        bucket: 'forests',
        endpoint: server.endpoint,
        force_path_style: true,
        key: 'team/registry.json',
        secret_access_key: SECRET,
      }),
    )
  const stored = () => direct().read()
  const secretsOf = () => direct().secrets!
  /** Route passwords seen: they must not appear in any output either. */
  const routePasswords: string[] = []

  beforeAll(async () => {
    await server.start()
    sb = new Sandbox(undefined, {...NPM_ENV, TEST_S3_KEY: ACCESS, TEST_S3_SECRET: SECRET})
    packDir = mkdtempSync(join(tmpdir(), 'morpheus-s3-pack-'))
    config()
  })
  afterAll(async () => {
    await sb.cleanup()
    await server.stop()
    rmSync(packDir, {force: true, recursive: true})
  })

  test('scripts/pack.js packs it with npm pack, offline, the AWS SDK bundled and nothing of the sources or tests', async () => {
    const {stdout} = await run(
      process.execPath,
      [join(PLUGIN_DIR, 'scripts', 'pack.js'), '--pack-destination', packDir, '--npm', npmCli()],
      {env: sb.env},
    )
    const packed = JSON.parse(stdout.trim().split('\n').at(-1)!)
    tarball = packed.tarball
    expect(tarball).toBe(join(packDir, 'morpheus-registry-s3-0.1.0.tgz'))
    expect(packed.bundled).toBeGreaterThan(10)
    const {stdout: listing} = await run('tar', ['tzf', tarball], {maxBuffer: 10 * 1024 * 1024})
    const files = listing.split('\n').filter(Boolean)
    expect(files).toEqual(
      expect.arrayContaining([
        'package/package.json',
        'package/README.md',
        'package/dist/hooks/registries.js',
        'package/dist/s3-registry.js',
        'package/node_modules/@aws-sdk/client-s3/package.json',
        'package/node_modules/@aws-sdk/client-s3/dist-cjs/index.js',
      ]),
    )
    expect(files.filter((f) => /^package\/(src|test|scripts)\//.test(f) || f.includes('/dist-types/') || f.endsWith('.ts'))).toEqual([])
    const {stdout: manifest} = await run('tar', ['xzf', tarball, '-O', 'package/package.json'])
    const pkg = JSON.parse(manifest)
    expect(pkg.bundleDependencies).toEqual(['@aws-sdk/client-s3'])
    expect(pkg.devDependencies).toBeUndefined()
  })

  test('plugins install file:<tarball> works with no npm registry; registry backends lists s3 as a user plugin', async () => {
    const r = await cli(['plugins', 'install', `file:${tarball}`])
    expect(r.stderr).not.toMatch(/ERR|ENOTCACHED|ECONNREFUSED|Warning/)
    expect(r.code).toBe(0)
    const installed = join(sb.env.MORPHEUS_DATA_DIR!, 'node_modules', '@morpheus', 'registry-s3')
    expect(existsSync(join(installed, 'node_modules', '@aws-sdk', 'client-s3', 'package.json'))).toBe(true)
    // The core is not pulled in as a dependency.
    expect(existsSync(join(sb.env.MORPHEUS_DATA_DIR!, 'node_modules', 'morpheus'))).toBe(false)
    const out = await ok(['registry', 'backends'])
    expect(out.warnings).toEqual([])
    expect(out.backends.find((b: any) => b.name === 's3')).toMatchObject({
      capabilities: {remote: true},
      plugin: PLUGIN,
      plugin_type: 'user',
      selected: true,
      version: '0.1.0',
    })
  })

  test('the AWS SDK stays off the start-up path: with the plugin installed no other command loads it; a command using the s3 registry does', async () => {
    const probe = join(sb.dir, 'sdk-probe.cjs')
    writeFileSync(probe, SDK_PROBE)
    const loaded = async (args: string[]) => {
      const out = join(sb.dir, 'sdk-probe.out')
      rmSync(out, {force: true})
      const r = await cli(args, {NODE_OPTIONS: `--require ${probe}`, SDK_PROBE_OUT: out})
      expect(r.code).toBe(0)
      return Number(readFileSync(out, 'utf8'))
    }
    sb.writeRawConfig(`providers:\n  local:\n    first_address: ${sb.firstAddress}\n`)
    for (const args of [
      ['--help'],
      ['--version'],
      ['registry', 'backends', '--json'],
      ['providers', '--json'],
      ['list', '--json'],
      ['registry', 'info', '--json'],
    ]) {
      expect([args.join(' '), await loaded(args)]).toEqual([args.join(' '), 0])
    }
    config('  unsafe_writes: true\n')
    // The control: the probe really sees the SDK when the s3 backend is used.
    expect(await loaded(['registry', 'info', '--json'])).toBeGreaterThan(5)
    config()
  })

  test("a literal secret_access_key is masked by config get and list: the plugin's schema declares it secret", async () => {
    await ok(['config', 'set', 'registry.secret_access_key', 'literal-Secret-Value-42'])
    for (const args of [
      ['config', 'get', 'registry.secret_access_key'],
      ['config', 'list'],
      ['config', 'get', 'registry'],
    ]) {
      const r = await cli(args)
      expect(r.code).toBe(0)
      expect(r.stdout + r.stderr).not.toContain('literal-Secret-Value-42')
      expect(r.stdout).toContain('********')
    }
    config()
  })

  test('plant on s3rver without the unsafe switch: refused before anything is made (exit 4), naming what is missing and the switch', async () => {
    const r = await cli(['plant', 'local', 'small'])
    expect(r.code).toBe(4)
    expect(r.stderr).toContain('refusing to write the registry at s3://forests/team/registry.json')
    expect(r.stderr).toContain('missing: conditional create (If-None-Match: *) and conditional update (If-Match)')
    expect(r.stderr).toContain('--unsafe')
    expect(await stored()).toBeNull()
    expect(nodeProcesses(sb.dir)).toEqual([])
  })

  test('registry init on s3rver: the probe finds no conditional writes, init refuses (exit 4) naming what is missing and the unsafe switch; nothing is written', async () => {
    const r = await cli(['registry', 'init'])
    expect(r.code).toBe(4)
    expect(r.stderr).toContain('If-None-Match')
    expect(r.stderr).toContain('If-Match')
    expect(r.stderr).toMatch(/--unsafe|unsafe_writes/)
    expect(await stored()).toBeNull()
    const json = await cli(['registry', 'init', '--json'])
    expect(json.code).toBe(4)
    expect(JSON.parse(json.stdout).error).toMatchObject({exitCode: 4})
  })

  test('with registry.unsafe_writes: true, init creates the document; info reports concurrency none and why; show prints it', async () => {
    config('  unsafe_writes: true\n')
    const init = await ok(['registry', 'init'])
    expect(init.created).toBe(true)
    expect(init.location).toBe(`s3://forests/team/registry.json on ${new URL(server.endpoint).host}`)
    expect(init.probe.concurrency).toBe('none')
    const info = await ok(['registry', 'info'])
    expect(info).toMatchObject({backend: 's3', exists: true, forest_count: 0, plugin: `${PLUGIN}@0.1.0`})
    expect(info.probe.notes[0]).toContain('missing: conditional create (If-None-Match: *) and conditional update (If-Match)')
    const text = await cli(['registry', 'info'])
    expect(text.stdout).toContain('Concurrency: none')
    const show = await ok(['registry', 'show'])
    expect(show.document).toMatchObject({forests: {}, nodes: {}, version: 1})
    expect(JSON.parse((await stored())!.body)).toEqual(show.document)
    // Idempotent.
    expect((await ok(['registry', 'init'])).created).toBe(false)
  })

  test('plant, list, status and teardown of a local forest, with the registry on s3rver; its route credentials live in a secrets object beside the document until teardown', async () => {
    const planted = await ok(['plant', 'local', 'small'])
    const id = planted.forest.id
    expect(planted.forest.status).toBe('active')
    const body = (await stored())!.body
    const doc = JSON.parse(body)
    expect(doc.forests[id]).toMatchObject({provider: 'local', status: 'active'})
    expect(doc.nodes[id]).toHaveLength(1)
    const auth = JSON.parse((await secretsOf().get(id, 'cluster_auth'))!)
    expect(auth.password.length).toBeGreaterThan(16)
    routePasswords.push(auth.password)
    expect(body).not.toContain(auth.password)
    expect((await ok(['list'])).forests.map((f: any) => f.id)).toEqual([id])
    expect((await ok(['status', id])).health).toBe('healthy')
    // The node processes carry none of the S3 credentials.
    for (const pid of nodeProcesses(sb.dir)) {
      const environ = readFileSync(`/proc/${pid}/environ`, 'latin1') + readFileSync(`/proc/${pid}/cmdline`, 'latin1')
      expect(environ).not.toContain(SECRET)
      expect(environ).not.toContain(ACCESS)
    }
    const down = await ok(['teardown', id, '--yes'])
    expect(down.removed).toEqual(['node-1'])
    expect(nodeProcesses(sb.dir)).toEqual([])
    expect(JSON.parse((await stored())!.body).forests).toEqual({})
    expect(await secretsOf().get(id, 'cluster_auth')).toBeUndefined()
  })

  test('no keys in the config: the standard AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) is used', async () => {
    sb.writeRawConfig(
      `registry:\n  type: s3\n  endpoint: ${server.endpoint}\n  bucket: forests\n  key: team/registry.json\n  force_path_style: true\n  unsafe_writes: true\nproviders:\n  local:\n    first_address: ${sb.firstAddress}\n`,
    )
    const env = {AWS_ACCESS_KEY_ID: ACCESS, AWS_EC2_METADATA_DISABLED: 'true', AWS_SECRET_ACCESS_KEY: SECRET}
    expect((await ok(['registry', 'info'], env)).exists).toBe(true)
    const refused = await cli(['registry', 'info'], {...env, AWS_ACCESS_KEY_ID: 'NOSUCHKEYID'})
    expect(refused.code).toBe(4)
    expect(refused.stderr).toContain('the server refused the credentials')
    expect(refused.stderr).not.toContain('NOSUCHKEYID')
    config('  unsafe_writes: true\n')
  })

  test('clear errors, exit 4: a bucket that does not exist; an endpoint where nothing listens', async () => {
    sb.writeRawConfig(readFileSync(join(sb.dir, 'config.yaml'), 'utf8').replace('bucket: forests', 'bucket: no-such-bucket'))
    const bucket = await cli(['registry', 'show'])
    expect(bucket.code).toBe(4)
    expect(bucket.stderr).toContain('s3://no-such-bucket/team/registry.json')
    expect(bucket.stderr).toContain('the bucket does not exist')
    expect(bucket.stderr).toContain('Create the bucket first')
    config('  unsafe_writes: true\n')
    sb.writeRawConfig(readFileSync(join(sb.dir, 'config.yaml'), 'utf8').replace(server.endpoint, 'http://127.0.0.1:9'))
    const down = await cli(['list'])
    expect(down.code).toBe(4)
    expect(down.stderr).toContain('cannot reach the endpoint (ECONNREFUSED)')
    config('  unsafe_writes: true\n')
  })

  test('against the S3 simulator (conditional writes enforced, versioned bucket): init finds compare-and-swap; two plants at once both land; teardown; registry history and restore on object versions', async () => {
    const fake = new FakeS3({
      buckets: {cas: {versioning: true}},
      credentials: [{accessKeyId: ACCESS, secretAccessKey: SECRET}],
      region: 'eu-north-1',
    })
    await fake.start()
    try {
      sb.writeRawConfig(
        `registry:\n  type: s3\n  endpoint: ${fake.endpoint}\n  region: eu-north-1\n  bucket: cas\n  force_path_style: true\n  access_key_id: \${TEST_S3_KEY}\n  secret_access_key: \${TEST_S3_SECRET}\nproviders:\n  local:\n    first_address: ${sb.firstAddress}\n`,
      )
      const init = await ok(['registry', 'init'])
      expect(init.created).toBe(true)
      expect(init.probe.concurrency).toBe('compare-and-swap')
      expect((await ok(['registry', 'info'])).probe.notes).toEqual([
        'conditional create enforced: a second If-None-Match: * create was refused',
        'conditional update enforced: a write with a stale If-Match ETag was refused',
        'bucket versioning is on: registry history and restore use object versions',
      ])
      // Two commands write the same document at once; conditional writes keep both forests.
      const [one, two] = await Promise.all([ok(['plant', 'local', 'small']), ok(['plant', 'local', 'small'])])
      const ids = [one.forest.id, two.forest.id]
      expect(new Set(ids).size).toBe(2)
      const doc = JSON.parse(fake.object('cas', 'morpheus/registry.json')!)
      expect(Object.keys(doc.forests).sort()).toEqual([...ids].sort())
      // Every PUT of the document was conditional.
      const puts = fake.requests.filter((r) => r.method === 'PUT' && r.path === '/cas/morpheus/registry.json')
      expect(puts.length).toBeGreaterThan(2)
      expect(puts.every((r) => r.headers['if-match'] !== undefined || r.headers['if-none-match'] === '*')).toBe(true)
      expect(fake.keys('cas')).toEqual(['morpheus/registry.json', ...ids.map((id) => `morpheus/registry.json.secrets/${id}.json`).sort()])
      for (const id of ids) expect((await ok(['teardown', id, '--yes'])).removed).toEqual(['node-1'])
      expect(nodeProcesses(sb.dir)).toEqual([])
      expect(JSON.parse(fake.object('cas', 'morpheus/registry.json')!).forests).toEqual({})
      // Teardown removed each forest's secrets object, every version of it.
      expect(fake.keys('cas')).toEqual(['morpheus/registry.json'])
      for (const id of ids) expect(fake.versionsOf('cas', `morpheus/registry.json.secrets/${id}.json`)).toEqual([])
      // registry history and restore, through the CLI, on the bucket's object versions: back to the
      // revision that held both forests (active), and the document restored over stays in the history.
      const history = await ok(['registry', 'history', '--limit', '50'])
      const versions = fake.versionsOf('cas', 'morpheus/registry.json')
      expect(history.revisions).toHaveLength(versions.length - 1)
      const both = history.revisions.find((r: any) => {
        const body = versions.find((v) => r.revision.includes(v.versionId))?.body
        const forests = body ? JSON.parse(body).forests : {}
        return ids.every((id) => forests[id]?.status === 'active')
      })
      expect(both).toBeDefined()
      const refusedRestore = await cli(['registry', 'restore', both.revision])
      expect(refusedRestore.code).toBe(2)
      const restored = await ok(['registry', 'restore', both.revision, '--yes'])
      expect(restored).toEqual(expect.objectContaining({forest_count: 2, node_count: 2}))
      expect((await ok(['list'])).forests.map((f: any) => f.id).sort()).toEqual([...ids].sort())
      expect((await ok(['registry', 'history', '--limit', '50'])).revisions).toHaveLength(history.revisions.length + 1)
      // Their processes are gone: teardown converges and clears the restored entries again.
      for (const id of ids) await ok(['teardown', id, '--yes'])
      expect(JSON.parse(fake.object('cas', 'morpheus/registry.json')!).forests).toEqual({})
      expect(fake.unhandled).toEqual([])
    } finally {
      await fake.stop()
      config('  unsafe_writes: true\n')
    }
  })

  test('plugins uninstall removes it; registry.type s3 then names a backend that is not installed', async () => {
    const r = await cli(['plugins', 'uninstall', PLUGIN])
    expect(r.code).toBe(0)
    expect(existsSync(join(sb.env.MORPHEUS_DATA_DIR!, 'node_modules', '@morpheus', 'registry-s3'))).toBe(false)
    const out = await ok(['registry', 'backends'])
    // Only the bundled backends remain.
    expect(out.backends.map((b: any) => b.name)).toEqual(['none', 'storagebox'])
    expect(out.selection).toEqual({install: 'morpheus plugins install @morpheus/registry-s3', installed: false, type: 's3'})
    const list = await cli(['list'])
    expect(list.code).toBe(8)
    expect(list.stderr).toContain('the registry backend "s3" (registry.type) is not installed; installed: none, storagebox')
    expect(list.stderr).toContain('`morpheus plugins install @morpheus/registry-s3`')
  })

  test('the S3 keys never appeared in any output, and the registry document never held them', async () => {
    expect(outputs.length).toBeGreaterThan(20)
    expect(routePasswords.length).toBeGreaterThan(0)
    for (const text of outputs) {
      for (const secret of [SECRET, ACCESS, ...routePasswords]) expect(text).not.toContain(secret)
    }
    const body = (await stored())!.body
    expect(body).not.toContain(SECRET)
    expect(body).not.toContain(ACCESS)
    // The config file holds references, not the keys.
    expect(readdirSync(sb.dir)).toContain('config.yaml')
    expect(readFileSync(join(sb.dir, 'config.yaml'), 'utf8')).not.toContain(SECRET)
  })
})
