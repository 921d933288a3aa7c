import {execFile} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {promisify} from 'node:util'

import {NPM_ENV, ROOT, Sandbox, nodeProcesses} from '../helpers/cli.js'
import {isSecretKey} from '../../src/config/config.js'

const run = promisify(execFile)

const EXAMPLE = join(ROOT, 'examples', 'provider-example')
const FIXTURES = join(ROOT, 'test', 'fixtures', 'plugins')

/** The npm that @oclif/plugin-plugins itself runs (its pinned dependency). */
function npmCli(): string {
  const require = createRequire(join(ROOT, 'node_modules', '@oclif', 'plugin-plugins', 'package.json'))
  const pjsonPath = require.resolve('npm/package.json')
  return join(dirname(pjsonPath), 'bin', 'npm-cli.js')
}

/** `plugins link` prints a warning for every linked ESM plugin; it is noise here. */
const LINK_ENV = {OCLIF_DISABLE_LINKED_ESM_WARNING: '1'}

async function link(sb: Sandbox, fixture: string): Promise<void> {
  const r = await sb.run(['plugins', 'link', join(FIXTURES, fixture), '--no-install'])
  if (r.code !== 0) throw new Error(`plugins link ${fixture} exited ${r.code}\n${r.stdout}\n${r.stderr}`)
}

describe('a third-party provider plugin, packed and installed from a tarball', () => {
  let sb: Sandbox
  let packDir: string
  let tarball = ''
  const firstAddress = `127.${10 + Math.floor(Math.random() * 240)}.${Math.floor(Math.random() * 250)}.1`

  beforeAll(() => {
    sb = new Sandbox(undefined, NPM_ENV)
    packDir = mkdtempSync(join(tmpdir(), 'morpheus-pack-'))
    sb.writeRawConfig(`providers:\n  local:\n    first_address: ${sb.firstAddress}\n  example:\n    first_address: ${firstAddress}\n`)
  })
  afterAll(async () => {
    await sb.cleanup()
    rmSync(packDir, {force: true, recursive: true})
  })

  test('npm pack makes a tarball of the example without touching a registry', async () => {
    const {stdout} = await run(process.execPath, [npmCli(), 'pack', '--json', '--pack-destination', packDir], {cwd: EXAMPLE, env: sb.env})
    const [packed] = JSON.parse(stdout)
    expect(packed.name).toBe('morpheus-provider-example')
    expect(packed.files.map((f: {path: string}) => f.path).sort()).toEqual([
      'README.md',
      'package.json',
      'src/hooks/providers.js',
      'src/provider.js',
    ])
    tarball = join(packDir, packed.filename)
    expect(existsSync(tarball)).toBe(true)
  })

  test('plugins install file:<tarball> installs it into the data dir, offline', async () => {
    const r = await sb.run(['plugins', 'install', `file:${tarball}`])
    expect(r.stderr).not.toMatch(/ERR|ENOTCACHED|ECONNREFUSED/)
    expect(r.code).toBe(0)
    expect(existsSync(join(sb.env.MORPHEUS_DATA_DIR!, 'node_modules', 'morpheus-provider-example', 'package.json'))).toBe(true)
    // The optional peer dependency on morpheus is not fetched (an unrelated "morpheus" may exist on npm).
    expect(existsSync(join(sb.env.MORPHEUS_DATA_DIR!, 'node_modules', 'morpheus'))).toBe(false)
  })

  test('providers --json lists it with its plugin, version and type user, next to local', async () => {
    const out = await sb.json(['providers'])
    expect(out.warnings).toEqual([])
    const example = out.providers.find((p: any) => p.name === 'example')
    expect(example).toMatchObject({
      aliases: ['example-nats'],
      plugin: 'morpheus-provider-example',
      plugin_type: 'user',
      version: '0.1.0',
    })
    expect(example.capabilities).toMatchObject({cloud: false, natsModes: ['system']})
    expect(out.providers.find((p: any) => p.name === 'local')).toMatchObject({plugin: '@morpheus/provider-local', plugin_type: 'core'})
  })

  test('its config section is validated against its configSchema, naming the key and the file', async () => {
    sb.writeRawConfig(`providers:\n  example:\n    first_adress: ${firstAddress}\n`)
    const r = await sb.run(['plant', 'example', 'small'])
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('providers.example.first_adress is not a known key (did you mean "first_address"?)')
    expect(r.stderr).toContain(join(sb.dir, 'config.yaml'))
    sb.writeRawConfig(`providers:\n  local:\n    first_address: ${sb.firstAddress}\n  example:\n    first_address: ${firstAddress}\n`)
  })

  test('a key its schema marks secret is masked by config get and list (its name alone would not be)', async () => {
    expect(isSecretKey('providers.example.cluster_passphrase')).toBe(false)
    await sb.json(['config', 'set', 'providers.example.cluster_passphrase', 'sw0rdfish-literal'])
    for (const args of [
      ['config', 'get', 'providers.example.cluster_passphrase'],
      ['config', 'list'],
      ['config', 'get', 'providers.example'],
    ]) {
      const r = await sb.run(args)
      expect(r.code).toBe(0)
      expect(r.stdout + r.stderr).not.toContain('sw0rdfish')
      expect(r.stdout).toContain('********')
    }
    await sb.json(['config', 'unset', 'providers.example.cluster_passphrase'])
  })

  test('the installed provider plants, reports and tears down a real three-node forest (by its alias too)', async () => {
    const planted = await sb.json(['plant', 'example-nats', 'medium'])
    const id = planted.forest.id
    expect(planted.forest.provider).toBe('example')
    expect(planted.nodes.map((n: any) => n.ip)).toEqual([
      firstAddress,
      firstAddress.replace(/\.1$/, '.2'),
      firstAddress.replace(/\.1$/, '.3'),
    ])
    for (const n of planted.nodes) {
      const varz: any = await (await fetch(`${n.monitor}/varz`)).json()
      expect(varz.routes).toBe(2)
      expect(varz.cluster.name).toBe(id)
    }
    expect(nodeProcesses(sb.dir)).toHaveLength(3)
    const status = await sb.json(['status', id])
    expect(status.health).toBe('healthy')
    const down = await sb.json(['teardown', id, '--yes'])
    expect(down.removed.sort()).toEqual(['node-1', 'node-2', 'node-3'])
    expect(nodeProcesses(sb.dir)).toEqual([])
    expect(existsSync(join(sb.env.MORPHEUS_DATA_DIR!, 'provider-example', id))).toBe(false)
  })

  test("plugins --json lists it as a user plugin (oclif's own command, answered in the JSON envelope)", async () => {
    const out = await sb.json(['plugins'])
    expect(out.plugins).toEqual(expect.arrayContaining([{name: 'morpheus-provider-example', type: 'user', version: '0.1.0'}]))
    expect(out.output).toContain('morpheus-provider-example')
  })

  test('plugins uninstall removes it: gone from providers, and plant refuses the name', async () => {
    // With --json (oclif's own command, answered in the envelope): the plugins left afterwards.
    const r = await sb.runJson(['plugins', 'uninstall', 'morpheus-provider-example'])
    expect(r.code).toBe(0)
    expect(r.out.plugins.map((p: {name: string}) => p.name)).not.toContain('morpheus-provider-example')
    const out = await sb.json(['providers'])
    expect(out.providers.map((p: any) => p.name)).toEqual(['hetzner', 'local'])
    expect(existsSync(join(sb.env.MORPHEUS_DATA_DIR!, 'node_modules', 'morpheus-provider-example'))).toBe(false)
    const plant = await sb.run(['plant', 'example', 'small'])
    expect(plant.code).toBe(2)
    expect(plant.stderr).toContain('unknown provider "example"; installed: hetzner, local')
  })
})

describe('the example type-checks against morpheus/plugin-api', () => {
  test('tsc --checkJs finds no error in its JSDoc-typed descriptor and provider', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'morpheus-tsc-'))
    try {
      const tsconfig = join(dir, 'tsconfig.json')
      writeFileSync(
        tsconfig,
        JSON.stringify({
          compilerOptions: {
            allowJs: true,
            checkJs: true,
            lib: ['ES2023'],
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            noEmit: true,
            skipLibCheck: true,
            strict: true,
            target: 'ES2022',
            paths: {'morpheus/plugin-api': [join(ROOT, 'src', 'plugin-api', 'index.ts')]},
            typeRoots: [join(ROOT, 'node_modules', '@types')],
            types: ['node'],
          },
          files: [join(EXAMPLE, 'src', 'hooks', 'providers.js'), join(EXAMPLE, 'src', 'provider.js')],
        }),
      )
      const result = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig]).catch(
        (error) => error,
      )
      expect(result.stdout).toBe('')
      expect(result.code ?? 0).toBe(0)
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })
})

describe('discovery faults, through plugins linked with `plugins link <dir> --no-install`', () => {
  const sandboxes: Sandbox[] = []
  const sandbox = (env: NodeJS.ProcessEnv = {}) => {
    const sb = new Sandbox(undefined, {...LINK_ENV, ...env})
    sandboxes.push(sb)
    return sb
  }
  afterAll(async () => {
    for (const sb of sandboxes) await sb.cleanup()
  })

  test('a linked plugin offering "local" replaces the bundled provider (no clash): providers lists it, plant local uses it; unlinking brings the bundled one back', async () => {
    const sb = sandbox()
    await link(sb, 'duplicate-local')
    const out = await sb.json(['providers'])
    expect(out.warnings).toEqual([])
    expect(out.providers.map((p: any) => [p.name, p.plugin, p.plugin_type, p.version])).toEqual([
      ['hetzner', '@morpheus/provider-hetzner', 'core', '0.1.0'],
      ['local', 'morpheus-fixture-duplicate-local', 'link', '0.0.1'],
    ])
    // plant local reaches the linked plugin's load(), not the bundled provider: no node starts.
    const plant = await sb.run(['plant', 'local', 'small'])
    expect(plant.code).not.toBe(0)
    expect(plant.code).not.toBe(8)
    expect(plant.stderr).toContain('fixture provider "local" (morpheus-fixture-duplicate-local) was loaded')
    expect(nodeProcesses(sb.dir)).toEqual([])

    expect((await sb.run(['plugins', 'uninstall', 'morpheus-fixture-duplicate-local'])).code).toBe(0)
    const after = await sb.json(['providers'])
    expect(after.providers.map((p: any) => [p.name, p.plugin, p.plugin_type])).toEqual([
      ['hetzner', '@morpheus/provider-hetzner', 'core'],
      ['local', '@morpheus/provider-local', 'core'],
    ])
  })

  test('two installed plugins offering "local": providers and plant local exit 8 naming both, other providers still work; uninstalling one fixes it', async () => {
    const sb = sandbox()
    await link(sb, 'duplicate-local')
    await link(sb, 'duplicate-local-2')
    const both = ['morpheus-fixture-duplicate-local@0.0.1', 'morpheus-fixture-duplicate-local-2@0.0.2']

    const list = await sb.run(['providers'])
    expect(list.code).toBe(8)
    expect(list.stderr).toContain(`provider name "local" is offered by ${both[0]} and ${both[1]}`)
    expect(list.stderr).not.toContain('@morpheus/provider-local@')
    expect(list.stderr).toContain('morpheus plugins uninstall morpheus-fixture-duplicate-local')

    const json = await sb.run(['providers', '--json'])
    expect(json.code).toBe(8)
    expect(JSON.parse(json.stdout).error).toMatchObject({code: 'PLUGIN', exitCode: 8})

    const plant = await sb.run(['plant', 'local', 'small'])
    expect(plant.code).toBe(8)
    for (const p of both) expect(plant.stderr).toContain(p)
    expect(nodeProcesses(sb.dir)).toEqual([])
    expect(existsSync(sb.registryPath)).toBe(false)

    // A provider with another name is not held hostage by the clash.
    await link(sb, '../../../examples/provider-example')
    const exampleAddress = `127.${10 + Math.floor(Math.random() * 240)}.${Math.floor(Math.random() * 250)}.1`
    sb.writeRawConfig(`providers:\n  local:\n    first_address: ${sb.firstAddress}\n  example:\n    first_address: ${exampleAddress}\n`)
    const other = await sb.run(['plant', 'example', 'small', '--json'])
    expect(other.code).toBe(0)
    const otherId = JSON.parse(other.stdout).forest.id
    expect((await sb.run(['teardown', otherId, '--yes'])).code).toBe(0)
    expect(nodeProcesses(sb.dir)).toEqual([])
    expect((await sb.run(['plugins', 'uninstall', 'morpheus-provider-example'])).code).toBe(0)

    expect((await sb.run(['plugins', 'uninstall', 'morpheus-fixture-duplicate-local-2'])).code).toBe(0)
    const after = await sb.json(['providers'])
    expect(after.providers.map((p: any) => p.plugin)).toEqual(['@morpheus/provider-hetzner', 'morpheus-fixture-duplicate-local'])
  })

  test('a plugin whose hook throws is named in a warning; local is still listed', async () => {
    const sb = sandbox()
    await link(sb, 'throwing-hook')
    const r = await sb.runJson(['providers'])
    expect(r.code).toBe(0)
    const out = r.out
    expect(out.providers.map((p: any) => p.name)).toEqual(['hetzner', 'local'])
    const warning = 'plugin morpheus-fixture-throwing-hook@0.0.1 could not list its providers: fixture hook failure: cannot list providers'
    // In the JSON envelope with --json, on stderr without.
    expect(out.warnings).toEqual([{code: 'PLUGIN', message: warning}])
    expect(r.stderr).not.toContain(warning)
    expect((await sb.run(['providers'])).stderr).toContain(`warning: ${warning}`)
  })

  test('a plugin whose hook never answers: with MORPHEUS_HOOK_TIMEOUT_MS=500 commands finish, warn, and local still plants', async () => {
    const sb = sandbox({MORPHEUS_HOOK_TIMEOUT_MS: '500'})
    await link(sb, 'hanging-hook')
    const started = Date.now()
    const r = await sb.runJson(['providers'], {timeoutMs: 15000})
    expect(r.code).toBe(0)
    // The process exits although the hook still holds a timer (it is abandoned, not awaited).
    expect(Date.now() - started).toBeLessThan(10000)
    const out = r.out
    expect(out.providers.map((p: any) => p.name)).toEqual(['hetzner', 'local'])
    expect(out.warnings).toEqual([
      {code: 'PLUGIN', message: 'plugin morpheus-fixture-hanging-hook@0.0.1 could not list its providers: Timed out after 500 ms.'},
    ])

    const planted = await sb.runJson(['plant', 'local', 'small'], {timeoutMs: 30000})
    expect(planted.code).toBe(0)
    expect(planted.out.warnings).toEqual([
      {code: 'PLUGIN', message: 'plugin morpheus-fixture-hanging-hook@0.0.1 could not list its providers: Timed out after 500 ms.'},
    ])
    const forest = planted.out.forest
    expect(forest.status).toBe('active')
    const down = await sb.run(['teardown', forest.id, '--yes'], {timeoutMs: 30000})
    expect(down.code).toBe(0)
    expect(nodeProcesses(sb.dir)).toEqual([])
  })

  test.each([
    ['api-v3', 'future', 3],
    ['api-v1', 'oldie', 1],
  ])('a descriptor for another plugin API (%s): plant exits 8 naming the plugin and both versions', async (fixture, name, version) => {
    const sb = sandbox()
    await link(sb, fixture)
    const pkg = `morpheus-fixture-${fixture}`
    const message = `provider "${name}" from ${pkg}@0.0.1 was written for plugin API version ${version}, but this morpheus speaks version 2`

    const plant = await sb.run(['plant', name, 'small'])
    expect(plant.code).toBe(8)
    expect(plant.stderr).toContain(`Error: ${message}; install a release of ${pkg} made for plugin API 2`)
    expect(existsSync(sb.registryPath)).toBe(false)

    const json = await sb.runJson(['plant', name, 'small'])
    expect(json.code).toBe(8)
    expect(json.out.error).toMatchObject({code: 'PLUGIN', exitCode: 8})

    const list = await sb.json(['providers'])
    expect(list.providers.map((p: any) => p.name)).toEqual(['hetzner', 'local'])
    expect(list.warnings).toEqual([{code: 'PLUGIN', message: expect.stringContaining(message)}])
  })

  test('a malformed descriptor (no capabilities) is ignored with a warning naming the plugin; providers still works', async () => {
    const sb = sandbox()
    await link(sb, 'malformed-descriptor')
    const text = await sb.run(['providers'])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/^local\s+@morpheus\/provider-local/m)
    expect(text.stderr).toContain(
      'warning: plugin morpheus-fixture-malformed-descriptor@0.0.1 offers a provider that "malformed" has no capabilities; ignored',
    )
    const out = await sb.json(['providers'])
    expect(out.providers.map((p: any) => p.name)).toEqual(['hetzner', 'local'])
  })
})
