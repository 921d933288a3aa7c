import type {Config} from '@oclif/core'

import {discover, resolve} from '../../../src/plugins/discovery.js'
import {PLUGIN_API_VERSION, PROVIDERS_HOOK, REGISTRIES_HOOK} from '../../../src/plugin-api/index.js'

/** A provider descriptor that passes every shape check. */
const provider = (name: string, aliases: string[] = []) => ({
  aliases,
  apiVersion: PLUGIN_API_VERSION,
  capabilities: {cloud: false, machineLocal: true, maxParallel: 1, natsModes: ['system']},
  load: async () => () => undefined,
  name,
  summary: `provider ${name}`,
})

type Answer = {plugin: {name: string; version: string; type: string}; result: unknown}

/** Just enough of oclif's Config: runHook answers as oclif does, one success per plugin. */
const config = (successes: Answer[]) => ({runHook: async () => ({failures: [], successes})}) as unknown as Config

const plugin = (name: string, type: string, version = '1.0.0') => ({name, type, version})

describe('discovery: which plugin a provider name belongs to', () => {
  test('a user-installed plugin offering a bundled name replaces the bundled provider: no conflict', async () => {
    const catalog = await discover(
      config([
        {plugin: plugin('@morpheus/provider-local', 'core', '0.1.0'), result: [provider('local')]},
        {plugin: plugin('@morpheus/provider-hetzner', 'core', '0.1.0'), result: [provider('hetzner', ['hcloud'])]},
        {plugin: plugin('my-local-fork', 'user', '2.0.0'), result: [provider('local')]},
      ]),
      PROVIDERS_HOOK,
    )
    expect(catalog.conflicts).toEqual([])
    expect(catalog.warnings).toEqual([])
    expect(catalog.entries.map((e) => [e.descriptor.name, e.plugin.name])).toEqual([
      ['hetzner', '@morpheus/provider-hetzner'],
      ['local', 'my-local-fork'],
    ])
    expect(resolve(catalog, 'local').plugin).toEqual(plugin('my-local-fork', 'user', '2.0.0'))
  })

  test('a linked plugin whose alias is a bundled name replaces that bundled provider, aliases included', async () => {
    const catalog = await discover(
      config([
        {plugin: plugin('@morpheus/provider-hetzner', 'core', '0.1.0'), result: [provider('hetzner', ['hcloud'])]},
        {plugin: plugin('hcloud-next', 'link'), result: [provider('hetzner-next', ['hcloud'])]},
      ]),
      PROVIDERS_HOOK,
    )
    expect(catalog.conflicts).toEqual([])
    expect(catalog.entries.map((e) => e.plugin.name)).toEqual(['hcloud-next'])
    expect(resolve(catalog, 'hcloud').descriptor.name).toBe('hetzner-next')
    expect(() => resolve(catalog, 'hetzner')).toThrow('unknown provider "hetzner"')
  })

  test('two installed plugins offering one name clash, whatever the bundled one does', async () => {
    const catalog = await discover(
      config([
        {plugin: plugin('@morpheus/provider-local', 'core', '0.1.0'), result: [provider('local')]},
        {plugin: plugin('fork-a', 'user'), result: [provider('local')]},
        {plugin: plugin('fork-b', 'link'), result: [provider('local')]},
      ]),
      PROVIDERS_HOOK,
    )
    expect(catalog.conflicts).toEqual([{name: 'local', plugins: [plugin('fork-a', 'user'), plugin('fork-b', 'link')]}])
    expect(() => resolve(catalog, 'local')).toThrow('provider name "local" is offered by fork-a@1.0.0 and fork-b@1.0.0')
  })

  test('two bundled plugins offering one name still clash', async () => {
    const catalog = await discover(
      config([
        {plugin: plugin('core-a', 'core'), result: [provider('local')]},
        {plugin: plugin('core-b', 'core'), result: [provider('local')]},
      ]),
      PROVIDERS_HOOK,
    )
    expect(catalog.conflicts.map((c) => c.plugins.map((p) => p.name))).toEqual([['core-a', 'core-b']])
  })
})

describe("discovery: a registry backend's set-up offer (RegistryDescriptor.setup)", () => {
  const backend = (name: string, setup?: unknown) => ({
    apiVersion: PLUGIN_API_VERSION,
    capabilities: {remote: true},
    load: async () => () => undefined,
    name,
    summary: `backend ${name}`,
    ...(setup === undefined ? {} : {setup}),
  })
  test('a well-formed offer is kept; a malformed one makes the backend ignored with a warning naming the plugin', async () => {
    const load = async () => async () => ({section: {type: 'x'}})
    const catalog = await discover(
      config([
        {
          plugin: plugin('good', 'user'),
          result: [backend('good', {choices: [{title: 'Make one', value: 'make-one'}], load, secrets: ['hetzner_api_token']})],
        },
        {plugin: plugin('no-load', 'user'), result: [backend('no-load', {choices: [{title: 'A', value: 'a'}]})]},
        {plugin: plugin('bad-choice', 'user'), result: [backend('bad-choice', {choices: [{title: 'A', value: 'Not A Name'}], load})]},
        {plugin: plugin('bad-secrets', 'user'), result: [backend('bad-secrets', {choices: [], load, secrets: ['no spaces please']})]},
      ]),
      REGISTRIES_HOOK,
    )
    expect(catalog.entries.map((e) => e.descriptor.name)).toEqual(['good'])
    // (plugins are read in name order)
    expect(catalog.warnings).toEqual([
      'plugin bad-choice@1.0.0 offers a registry backend that "bad-choice" offers a set-up without load() or a list of choices ({value, title}); ignored',
      'plugin bad-secrets@1.0.0 offers a registry backend that "bad-secrets" offers a set-up whose secrets are not a list of key names; ignored',
      'plugin no-load@1.0.0 offers a registry backend that "no-load" offers a set-up without load() or a list of choices ({value, title}); ignored',
    ])
  })
})
