import {existsSync, readdirSync} from 'node:fs'
import {join} from 'node:path'

import {Sandbox, nodeProcesses} from '../helpers/cli.js'

// A registry backend the config selects but no installed plugin offers (`registry.type: s3` after
// `morpheus plugins uninstall @morpheus/registry-s3`, or never installed): every command that needs
// the registry says so in the same words, names the command that installs it, exits 8 (plugins),
// and touches nothing. `registry backends` lists what is installed and says the same.
let s3: Sandbox
let unknown: Sandbox
beforeAll(() => {
  s3 = new Sandbox('registry:\n  type: s3\n  bucket: forests\n')
  unknown = new Sandbox('registry:\n  type: s4\n')
})
afterAll(async () => {
  await s3?.cleanup()
  await unknown?.cleanup()
})

const INSTALL = 'morpheus plugins install @morpheus/registry-s3'

// One command of each family that needs the registry.
const COMMANDS: string[][] = [
  ['list'],
  ['status', 'forest-1'],
  ['plant', 'local', 'small'],
  ['teardown', 'forest-1', '--yes'],
  ['grow', '--auto'],
  ['registry', 'info'],
  ['registry', 'show'],
  ['registry', 'verify'],
  ['registry', 'history'],
  ['registry', 'restore', '20261124T031820102Z-f3e0792e105e', '--yes'],
  ['registry', 'migrate', '--to', 'none', '--set', 'path=elsewhere.json'],
  ['registry', 'init', '--yes'],
]

test.each(COMMANDS.map((c) => [c.join(' '), c]))(
  '%s: exit 8 naming the backend and the command that installs it, in text and --json',
  async (_name, args) => {
    const json = await s3.runJson(args as string[])
    expect(json.code).toBe(8)
    expect(json.out.error).toMatchObject({
      code: 'PLUGIN',
      details: {backend: 's3', install: INSTALL, installed: ['none', 'storagebox'], setting: 'registry.type'},
      exitCode: 8,
      message: 'the registry backend "s3" (registry.type) is not installed; installed: none, storagebox',
    })
    expect(json.out.error.hint).toContain(`\`${INSTALL}\``)
    const text = await s3.run(args as string[])
    expect(text.code).toBe(8)
    expect(text.stderr).toContain('the registry backend "s3" (registry.type) is not installed')
    expect(text.stderr).toContain(`Hint: Install it: \`${INSTALL}\``)
    // Nothing was made: no registry file, no node.
    expect(existsSync(s3.registryPath)).toBe(false)
    expect(existsSync(join(s3.dir, 'elsewhere.json'))).toBe(false)
    expect(nodeProcesses(s3.dir)).toEqual([])
  },
  120_000,
)

test("a name that is none of Morpheus's own plugins: the same error with a generic install line", async () => {
  const json = await unknown.runJson(['list'])
  expect(json.code).toBe(8)
  expect(json.out.error.details).toMatchObject({backend: 's4', install: null})
  expect(json.out.error.hint).toContain('Install the plugin that offers "s4": `morpheus plugins install <package>`')
  const listed = await unknown.json(['registry', 'backends'])
  expect(listed.selection).toEqual({install: null, installed: false, type: 's4'})
})

test('registry backends: marks none, says the selected one is not installed and how to install it (exit 0)', async () => {
  const text = await s3.run(['registry', 'backends'])
  expect(text.code).toBe(0)
  expect(text.stdout).not.toMatch(/^\* /m)
  expect(text.stdout).not.toContain('selected by registry.type')
  expect(text.stdout).toContain(`registry.type selects "s3", which is not installed`)
  expect(text.stdout).toContain(`\`${INSTALL}\``)
  const json = await s3.json(['registry', 'backends'])
  expect(json.backends.map((b: any) => b.name)).toEqual(['none', 'storagebox'])
  expect(json.backends.some((b: any) => b.selected)).toBe(false)
  expect(json.selection).toEqual({install: INSTALL, installed: false, type: 's3'})
  expect(json.warnings).toEqual([{code: 'PLUGIN', message: expect.stringContaining(INSTALL)}])
  // Installed and selected: marked, no warning, nothing to install.
  const fine = new Sandbox('registry:\n  type: none\n')
  try {
    const ok = await fine.json(['registry', 'backends'])
    expect(ok.selection).toEqual({install: null, installed: true, type: 'none'})
    expect(ok.warnings).toEqual([])
    expect(ok.backends.filter((b: any) => b.selected).map((b: any) => b.name)).toEqual(['none'])
  } finally {
    await fine.cleanup()
  }
  expect(readdirSync(s3.dir)).not.toContain('registry.json')
}, 120_000)
