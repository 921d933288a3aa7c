/**
 * Morpheus as a user gets it: the release artefact (scripts/release.js: the CLI tarball with the
 * bundled plugins and every runtime dependency inside, and one tarball per plugin), installed by
 * scripts/install.sh with `npm install -g --offline` into a clean prefix, with an empty npm cache and
 * no npm registry reachable. The INSTALLED `morpheus` (found on PATH by name) then answers --version
 * and providers, plants and tears down a real local forest, and swaps the bundled provider-local
 * for a user-installed copy (from its tarball, and from a registry on loopback with the design
 * card's own line `morpheus plugins install @morpheus/provider-local`) and back.
 *
 * Packing is slow (the CLI bundles npm itself, for `plugins install`), so it happens once, in the
 * first test; the others depend on it. It packs the tree as built (no rebuild of dist/ while other
 * test files may be running).
 */
import {execFile, execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import {basename, dirname, join} from 'node:path'
import {promisify} from 'node:util'

import {NPM_ENV, ROOT, Sandbox, nodeProcesses} from '../helpers/cli.js'

const run = promisify(execFile)
const VERSION: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version
const BUNDLED = ['@morpheus/provider-hetzner', '@morpheus/provider-local', '@morpheus/registry-none', '@morpheus/registry-storagebox']
const PLUGIN_TARBALLS = [...BUNDLED, '@morpheus/registry-s3'].map((n) => `${n.slice(1).replace('/', '-')}-${VERSION}.tgz`)

/** oclif's `plugins` colours versions even without a terminal when CI is set. */
// eslint-disable-next-line no-control-regex -- ESC (\x1b) starts the colour codes this removes
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '')

/** A copy of a plugin tarball with another version in its package.json: the user's own build, told apart by its version. */
function repack(tarball: string, version: string, destination: string): string {
  const work = mkdtempSync(join(tmpdir(), 'morpheus-repack-'))
  try {
    execFileSync('tar', ['xzf', tarball, '-C', work])
    const manifest = join(work, 'package', 'package.json')
    writeFileSync(manifest, JSON.stringify({...JSON.parse(readFileSync(manifest, 'utf8')), version}, null, 2))
    const out = join(destination, basename(tarball).replace(`-${VERSION}.tgz`, `-${version}.tgz`))
    execFileSync('tar', ['czf', out, '-C', work, 'package'])
    return out
  } finally {
    rmSync(work, {force: true, recursive: true})
  }
}

/** The smallest npm registry npm installs from: one package's document and its tarball, on 127.0.0.1. Records every request. */
class LoopbackRegistry {
  readonly requests: string[] = []
  private server?: Server
  url = ''

  constructor(
    private readonly name: string,
    private readonly tarball: string,
  ) {}

  async start(): Promise<void> {
    const data = readFileSync(this.tarball)
    const manifest = JSON.parse(execFileSync('tar', ['xzf', this.tarball, '-O', 'package/package.json']).toString())
    const file = basename(this.tarball)
    this.server = createServer((req, res) => {
      this.requests.push(`${req.method} ${req.url}`)
      const path = decodeURIComponent(req.url ?? '')
      if (path === `/${this.name}`) {
        const dist = {
          integrity: `sha512-${createHash('sha512').update(data).digest('base64')}`,
          shasum: createHash('sha1').update(data).digest('hex'),
          tarball: `${this.url}tarballs/${file}`,
        }
        res.writeHead(200, {'content-type': 'application/json'})
        res.end(
          JSON.stringify({
            'dist-tags': {latest: manifest.version},
            name: this.name,
            versions: {[manifest.version]: {...manifest, _id: `${this.name}@${manifest.version}`, dist}},
          }),
        )
      } else if (path === `/tarballs/${file}`) {
        res.writeHead(200, {'content-length': data.length, 'content-type': 'application/octet-stream'})
        res.end(data)
      } else {
        res.writeHead(404, {'content-type': 'application/json'})
        res.end('{"error":"not found"}')
      }
    })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    const address = this.server.address() as {port: number}
    this.url = `http://127.0.0.1:${address.port}/`
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve))
  }
}

describe(`the release artefact, installed offline into a clean prefix (morpheus ${VERSION})`, () => {
  let work: string
  let out: string
  let prefix: string
  let sb: Sandbox
  /** npm must not reach any registry and must not borrow from a cache: an empty cache, offline, a closed port as the registry. */
  let npmEnv: NodeJS.ProcessEnv

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'morpheus-release-'))
    out = join(work, 'release')
    prefix = join(work, 'prefix')
    mkdirSync(join(work, 'npm-cache'))
    sb = new Sandbox(undefined, NPM_ENV)
    npmEnv = {...NPM_ENV, npm_config_cache: join(work, 'npm-cache')}
    // The installed CLI, by name: its prefix first on PATH, then this Node (the installed bin is `#!/usr/bin/env node`).
    sb.env.PATH = `${join(prefix, 'bin')}:${dirname(process.execPath)}:${process.env.PATH}`
    sb.env.npm_config_cache = npmEnv.npm_config_cache
    sb.command = 'morpheus'
  })
  afterAll(async () => {
    await sb.cleanup()
    rmSync(work, {force: true, recursive: true})
  })

  test('scripts/install.sh packs the CLI and one tarball per plugin, and installs morpheus into the prefix with no registry', async () => {
    const {stdout} = await run('bash', [join(ROOT, 'scripts', 'install.sh'), '--skip-build', '--out', out, '--prefix', prefix], {
      env: {...sb.env, ...npmEnv, PATH: process.env.PATH},
      maxBuffer: 64 * 1024 * 1024,
      timeout: 600_000,
    })
    // The last line is the installed binary.
    expect(stdout.trim().split('\n').at(-1)).toBe(join(prefix, 'bin', 'morpheus'))
    expect(readdirSync(out).sort()).toEqual([`morpheus-${VERSION}.tgz`, ...PLUGIN_TARBALLS].sort())

    // The CLI tarball: the built CLI, the bundled plugins as real packages, the runtime dependencies; no sources or tests.
    const {stdout: listing} = await run('tar', ['tzf', join(out, `morpheus-${VERSION}.tgz`)], {maxBuffer: 64 * 1024 * 1024})
    const files = listing.split('\n').filter(Boolean)
    expect(files).toEqual(
      expect.arrayContaining([
        'package/bin/run.js',
        'package/oclif.manifest.json',
        'package/dist/commands/plant.js',
        'package/templates/nats.conf.hbs',
        ...BUNDLED.map((n) => `package/node_modules/${n}/dist/hooks/${n.includes('provider') ? 'providers' : 'registries'}.js`),
        'package/node_modules/@oclif/core/package.json',
        'package/node_modules/webdav/package.json',
        'package/node_modules/npm/package.json',
      ]),
    )
    expect(files.filter((f) => /^package\/(src|test|plugins|scripts|bench)\//.test(f))).toEqual([])
    const manifest = JSON.parse(execFileSync('tar', ['xzf', join(out, `morpheus-${VERSION}.tgz`), '-O', 'package/package.json']).toString())
    expect(manifest.private).toBeUndefined()
    expect(manifest.bundleDependencies.sort()).toEqual(Object.keys(manifest.dependencies).sort())
    expect(manifest.bundleDependencies).toEqual(expect.arrayContaining(BUNDLED))

    // Installed as real files in the prefix, nothing linked back into this clone.
    const installed = join(prefix, 'lib', 'node_modules', 'morpheus')
    expect(realpathSync(join(prefix, 'bin', 'morpheus'))).toBe(join(installed, 'bin', 'run.js'))
    for (const name of BUNDLED) {
      expect(lstatSync(join(installed, 'node_modules', name)).isSymbolicLink()).toBe(false)
      expect(realpathSync(join(installed, 'node_modules', name)).startsWith(installed)).toBe(true)
    }
  }, 600_000)

  test('the installed morpheus is on PATH and answers --version and providers', async () => {
    const {stdout: which} = await run('bash', ['-c', 'command -v morpheus'], {env: sb.env})
    expect(which.trim()).toBe(join(prefix, 'bin', 'morpheus'))
    const version = await sb.run(['--version'])
    expect(version.code).toBe(0)
    expect(version.stdout).toBe(`morpheus/${VERSION} ${process.platform}-${process.arch} node-${process.version}\n`)
    const listed = await sb.json(['providers'])
    expect(listed.warnings).toEqual([])
    expect(listed.providers.map((p: any) => [p.name, p.plugin, p.plugin_type, p.version])).toEqual([
      ['hetzner', '@morpheus/provider-hetzner', 'core', VERSION],
      ['local', '@morpheus/provider-local', 'core', VERSION],
    ])
    const backends = await sb.run(['registry', 'backends'])
    expect(backends.code).toBe(0)
    expect(backends.stdout).toMatch(/none/)
    expect(backends.stdout).toMatch(/storagebox/)
  })

  test('the installed morpheus plants, reports and tears down a real three-node local forest', async () => {
    const planted = await sb.json(['plant', 'local', 'medium'])
    const id = planted.forest.id
    expect(planted.nodes).toHaveLength(3)
    for (const n of planted.nodes) {
      const varz: any = await (await fetch(`${n.monitor}/varz`)).json()
      expect(varz.routes).toBe(2)
      expect(varz.cluster.name).toBe(id)
    }
    expect(nodeProcesses(sb.dir)).toHaveLength(3)
    expect((await sb.json(['status', id])).health).toBe('healthy')
    const down = await sb.json(['teardown', id, '--yes'])
    expect(down.removed.sort()).toEqual(['node-1', 'node-2', 'node-3'])
    expect(nodeProcesses(sb.dir)).toEqual([])
    expect(Object.keys(sb.registry().forests)).toEqual([])
  }, 120_000)

  const userVersion = `${VERSION.replace(/-.*/, '')}-user.1`

  test("plugins install file:<the plugin tarball> (the user's copy, another version) replaces the bundled provider-local, offline", async () => {
    const copy = repack(join(out, `morpheus-provider-local-${VERSION}.tgz`), userVersion, work)
    const r = await sb.run(['plugins', 'install', `file:${copy}`], {env: npmEnv, timeoutMs: 120_000})
    expect(r.stderr).not.toMatch(/ERR|ENOTCACHED|ECONNREFUSED/)
    expect(r.code).toBe(0)
    expect(existsSync(join(sb.env.MORPHEUS_DATA_DIR!, 'node_modules', '@morpheus', 'provider-local', 'package.json'))).toBe(true)

    const plugins = await sb.run(['plugins'])
    expect(plugins.code).toBe(0)
    expect(plain(plugins.stdout)).toContain(`@morpheus/provider-local ${userVersion}`)
    const listed = await sb.json(['providers'])
    expect(listed.warnings).toEqual([])
    expect(listed.providers.find((p: any) => p.name === 'local')).toMatchObject({
      plugin: '@morpheus/provider-local',
      plugin_type: 'user',
      version: userVersion,
    })
    // The user's copy works: it plants and tears down a forest.
    const planted = await sb.json(['plant', 'local', 'small'])
    expect(planted.nodes).toHaveLength(1)
    expect(nodeProcesses(sb.dir)).toHaveLength(1)
    await sb.json(['teardown', planted.forest.id, '--yes'])
    expect(nodeProcesses(sb.dir)).toEqual([])
  }, 180_000)

  test('plugins uninstall @morpheus/provider-local brings the bundled copy back', async () => {
    const r = await sb.run(['plugins', 'uninstall', '@morpheus/provider-local'], {env: npmEnv, timeoutMs: 120_000})
    expect(r.code).toBe(0)
    expect(plain((await sb.run(['plugins'])).stdout)).toContain('No plugins installed.')
    const listed = await sb.json(['providers'])
    expect(listed.providers.find((p: any) => p.name === 'local')).toMatchObject({
      plugin: '@morpheus/provider-local',
      plugin_type: 'core',
      version: VERSION,
    })
  }, 180_000)

  test("the design card's line, `morpheus plugins install @morpheus/provider-local`, installs from the configured registry (here on loopback) and wins over the bundled copy", async () => {
    const registryVersion = `${VERSION.replace(/-.*/, '')}-registry.1`
    const registry = new LoopbackRegistry(
      '@morpheus/provider-local',
      repack(join(out, `morpheus-provider-local-${VERSION}.tgz`), registryVersion, work),
    )
    await registry.start()
    try {
      const env = {...npmEnv, MORPHEUS_NPM_REGISTRY: registry.url, npm_config_offline: 'false', npm_config_registry: registry.url}
      const r = await sb.run(['plugins', 'install', '@morpheus/provider-local'], {env, timeoutMs: 120_000})
      expect(r.code).toBe(0)
      // npm asked this registry for that package and its tarball, and for nothing else.
      expect(registry.requests.length).toBeGreaterThan(0)
      expect(
        registry.requests.filter((q) => !/^GET \/(@morpheus%2fprovider-local|tarballs\/morpheus-provider-local-.*\.tgz)$/i.test(q)),
      ).toEqual([])
      const listed = await sb.json(['providers'])
      expect(listed.providers.find((p: any) => p.name === 'local')).toMatchObject({plugin_type: 'user', version: registryVersion})
      expect(plain((await sb.run(['plugins'])).stdout)).toContain(`@morpheus/provider-local ${registryVersion}`)

      expect((await sb.run(['plugins', 'uninstall', '@morpheus/provider-local'], {env, timeoutMs: 120_000})).code).toBe(0)
      const after = await sb.json(['providers'])
      expect(after.providers.find((p: any) => p.name === 'local')).toMatchObject({plugin_type: 'core', version: VERSION})
    } finally {
      await registry.stop()
    }
  }, 240_000)

  test('scripts/local-forest.sh (given the tarball) installs morpheus, plants, and ends with commands that work as printed', async () => {
    const forest = new Sandbox(undefined, NPM_ENV)
    try {
      const where = join(work, 'prefix-local-forest')
      // Not on PATH: the script prints the commands with the binary's full path, and the line that puts it on PATH.
      const env = {...forest.env, ...npmEnv, PATH: `${dirname(process.execPath)}:${process.env.PATH}`}
      const script = join(ROOT, 'scripts', 'local-forest.sh')
      const {stdout} = await run('bash', [script, 'small', '--prefix', where, '--tarball', join(out, `morpheus-${VERSION}.tgz`)], {
        cwd: forest.dir,
        env,
        maxBuffer: 16 * 1024 * 1024,
        timeout: 300_000,
      })
      expect(nodeProcesses(forest.dir)).toHaveLength(1)
      const lines = stdout.trim().split('\n')
      const commands = lines.slice(lines.lastIndexOf('Try:') + 1).map((l) => l.trim())
      const bin = join(where, 'bin', 'morpheus')
      expect(commands).toEqual([
        `${bin} list`,
        expect.stringMatching(new RegExp(`^${bin} status forest-\\d+$`)),
        expect.stringMatching(new RegExp(`^${bin} teardown forest-\\d+ --yes$`)),
      ])
      const id = commands[1].split(' ').at(-1)
      expect(Object.keys(forest.registry().forests)).toEqual([id])

      const results = []
      for (const command of commands) results.push(await run('bash', ['-c', command], {cwd: forest.dir, env}))
      expect(results[0].stdout).toContain(id)
      expect(results[1].stdout).toContain(id)
      expect(nodeProcesses(forest.dir)).toEqual([])
      expect(Object.keys(forest.registry().forests)).toEqual([])

      const exportLine = lines.find((l) => l.includes('export PATH='))!
      const {stdout: which} = await run('bash', ['-c', `${exportLine.slice(exportLine.indexOf('export '))}; command -v morpheus`], {env})
      expect(which.trim()).toBe(bin)
    } finally {
      await forest.cleanup()
    }
  }, 360_000)
})
