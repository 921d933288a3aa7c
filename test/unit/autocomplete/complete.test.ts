import {complete, completionModel, type ValueKind} from '../../../src/autocomplete/complete.js'
import {nearest} from '../../../src/suggest.js'

/** Commands shaped as oclif lists them (manifest entries), aliases included as oclif adds them. */
const flag = (name: string, extra: Record<string, unknown> = {}) => ({name, type: 'boolean', ...extra})
const option = (name: string, extra: Record<string, unknown> = {}) => ({name, type: 'option', ...extra})
const install = {
  aliases: ['plugins:add'],
  args: {plugin: {name: 'plugin'}},
  flags: {force: flag('force')},
  id: 'plugins:install',
  summary: 'Installs a plugin into <%= config.bin %>.',
}
const commands = [
  {aliases: [], args: {}, flags: {json: flag('json')}, id: 'list', summary: 'List'},
  {aliases: [], args: {forest: {name: 'forest'}}, flags: {json: flag('json')}, id: 'status', summary: 'Status'},
  {
    aliases: [],
    args: {forest: {name: 'forest'}},
    flags: {force: flag('force'), json: flag('json'), yes: flag('yes', {char: 'y'})},
    id: 'teardown',
  },
  {
    aliases: [],
    args: {provider: {name: 'provider'}, size: {name: 'size'}},
    flags: {nodes: option('nodes'), 'dry-run': flag('dry-run'), secret: flag('secret', {hidden: true})},
    id: 'plant',
  },
  {
    aliases: [],
    args: {forest: {name: 'forest'}},
    flags: {output: option('output', {options: ['text', 'json']}), tag: option('tag', {char: 't', multiple: true})},
    id: 'grow',
  },
  ...['get', 'set', 'unset', 'list', 'path'].map((w) => ({aliases: [], args: {key: {name: 'key'}}, flags: {}, id: `config:${w}`})),
  {aliases: [], args: {}, flags: {core: flag('core')}, id: 'plugins', summary: 'List installed plugins.'},
  install,
  {...install, id: 'plugins:add'},
  {aliases: [], args: {}, flags: {}, hidden: true, id: 'autocomplete:forests'},
]
const model = completionModel('morpheus', commands as any, [{description: 'Read and change the config', name: 'config'}, {name: 'plugins'}])

const VALUES: Record<ValueKind, string[]> = {
  forest: ['forest-1', 'forest-2'],
  provider: ['hetzner', 'local', 'cloud'],
  size: ['small', 'medium', 'large'],
}
const asked: ValueKind[] = []
const values = async (kind: ValueKind) => {
  asked.push(kind)
  return VALUES[kind]
}
const tab = async (...words: string[]) => (await complete(model, words, values)).map((c) => c.value)

describe('completion', () => {
  test('command words, each once (topics with many commands are not repeated); hidden commands and aliases are not offered', async () => {
    expect(await tab('')).toEqual(['config', 'grow', 'list', 'plant', 'plugins', 'status', 'teardown'])
    expect(await tab('p')).toEqual(['plant', 'plugins'])
    expect(await tab('config', '')).toEqual(['get', 'list', 'path', 'set', 'unset'])
    expect(await tab('plugins', '')).toEqual(['install'])
    expect(await tab('autocomplete', '')).toEqual([])
    expect(await tab('nope', '')).toEqual([])
  })

  test('descriptions: command summaries (with the bin filled in) and topic descriptions', async () => {
    const all = await complete(model, [''], values)
    expect(all.find((c) => c.value === 'config')?.description).toBe('Read and change the config')
    expect(all.find((c) => c.value === 'plugins')?.description).toBe('List installed plugins.')
    const sub = await complete(model, ['plugins', 'i'], values)
    expect(sub).toEqual([{description: 'Installs a plugin into morpheus.', value: 'install'}])
  })

  test('arguments: forest ids, providers, sizes, by position', async () => {
    expect(await tab('status', '')).toEqual(['forest-1', 'forest-2'])
    expect(await tab('status', 'forest-2')).toEqual(['forest-2'])
    expect(await tab('teardown', '--yes', '')).toEqual(['forest-1', 'forest-2'])
    expect(await tab('teardown', '-y', 'f')).toEqual(['forest-1', 'forest-2'])
    expect(await tab('plant', '')).toEqual(['hetzner', 'local', 'cloud'])
    expect(await tab('plant', 'l')).toEqual(['local'])
    expect(await tab('plant', 'local', '')).toEqual(['small', 'medium', 'large'])
    expect(await tab('plant', '--nodes', '3', 'local', 'm')).toEqual(['medium'])
    expect(await tab('plant', '--nodes=3', 'local', 'm')).toEqual(['medium'])
    // An alias is understood.
    expect(await tab('plugins', 'add', '--')).toEqual(['--force', '--help'])
  })

  test('flags: after a dash, or once every argument is given; a used flag is not offered again unless it repeats', async () => {
    expect(await tab('teardown', 'forest-1', '--')).toEqual(['--force', '--help', '--json', '--yes'])
    expect(await tab('teardown', '--')).toEqual(['--force', '--help', '--json', '--yes'])
    expect(await tab('teardown', 'forest-1', '')).toEqual(['--force', '--help', '--json', '--yes'])
    expect(await tab('teardown', '--yes', 'forest-1', '--')).toEqual(['--force', '--help', '--json'])
    expect(await tab('teardown', '-y', 'forest-1', '--')).toEqual(['--force', '--help', '--json'])
    expect(await tab('plant', 'local', 'small', '--d')).toEqual(['--dry-run'])
    expect(await tab('plant', '-')).not.toContain('--secret')
    expect(await tab('grow', '--tag', 'a', '--t')).toEqual(['--tag'])
    // `plugins <TAB>` is about its subcommands; its flags come after a dash.
    expect(await tab('plugins', '-')).toEqual(['--core', '--help'])
    // After `--` everything is an argument.
    expect(await tab('teardown', '--', '-')).toEqual([])
  })

  test('flag values: --flag <TAB>, --flag=<TAB>, -c <TAB>', async () => {
    expect(await tab('grow', '--output', '')).toEqual(['text', 'json'])
    expect(await tab('grow', '--output', 'j')).toEqual(['json'])
    expect(await tab('grow', '--output=')).toEqual(['--output=text', '--output=json'])
    expect(await tab('grow', '--output=t')).toEqual(['--output=text'])
    expect(await tab('grow', '--output', 'json', '')).toEqual(['forest-1', 'forest-2'])
    expect(await tab('grow', '-t', 'x', '')).toEqual(['forest-1', 'forest-2'])
    expect(await tab('plant', '--nodes', '')).toEqual([])
    expect(await tab('plant', '--dry-run=')).toEqual([])
  })

  test('values are looked up only when they are needed', async () => {
    asked.length = 0
    await tab('')
    await tab('config', '')
    await tab('teardown', '--')
    expect(asked).toEqual([])
    await tab('status', '')
    expect(asked).toEqual(['forest'])
  })
})

describe('did you mean', () => {
  const known = ['status', 'list', 'plant', 'plugins', 'providers', 'teardown', 'config', 'config:get', 'version']
  test('the nearest known words, or none', () => {
    expect(nearest('stat', known)).toEqual(['status'])
    expect(nearest('lst', known)).toEqual(['list'])
    expect(nearest('teardwon', known)).toEqual(['teardown'])
    expect(nearest('versoin', known)).toEqual(['version'])
    expect(nearest('xyzzy', known)).toEqual([])
    expect(nearest('p', known)).toEqual([])
  })
})
