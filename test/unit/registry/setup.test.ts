import {existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {load as parse} from 'js-yaml'

import {MorpheusError} from '../../../src/errors.js'
import type {RegistryBackend, RegistryDescriptor, RegistrySetupRequest} from '../../../src/plugin-api/index.js'
import {pluginError} from '../../../src/plugins/errors.js'
import {guardBackend} from '../../../src/plugins/guard.js'
import {setUpRegistry, setupChoices, type SetupDeps} from '../../../src/registry/setup.js'
import {MemoryRegistry, testContext} from '../../../src/testing/index.js'
import {questions} from '../../../src/ui/questions.js'
import {rejection} from '../../helpers/unit.js'

// The guided registry set-up as a domain module: a backend's set-up offer (its own questions),
// the in-memory registry, scripted answers, and a real config file in a temporary directory.

let dir: string
let configFile: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'morpheus-setup-'))
  configFile = join(dir, 'config.yaml')
  writeFileSync(configFile, 'forest:\n  parallel: 3\n', {mode: 0o600})
})
afterEach(() => rmSync(dir, {force: true, recursive: true}))

/** Prompts that answer from a script, recording each question; one not in the script fails the test. */
function scripted(answers: Record<string, string>) {
  const asked: string[] = []
  const answer = async (q: {message: string}) => {
    asked.push(q.message)
    if (!(q.message in answers)) throw new Error(`unexpected question: ${q.message}`)
    return answers[q.message]
  }
  return {asked, prompts: async () => ({input: answer, password: answer, select: answer as never})}
}

/** A backend plugin offering `remote-new` and `remote-existing`; what its set-up saw is recorded. */
function remoteOffer(seen: {
  requests: RegistrySetupRequest[]
  finishedWith?: {document: boolean; configHasRegistry: boolean}
}): RegistryDescriptor {
  return {
    apiVersion: 2,
    capabilities: {remote: true},
    load: async () => () => new MemoryRegistry(),
    name: 'remote',
    setup: {
      choices: [
        {title: 'Make a new remote store', value: 'remote-new'},
        {title: 'Use a remote store you have', value: 'remote-existing'},
      ],
      load: async () => async (request) => {
        seen.requests.push(request)
        const url = await request.questions.text('url', {message: 'URL of the document'})
        const password = await request.questions.secret('password-env', {message: 'Password'})
        return {
          async finish(backend) {
            seen.finishedWith = {
              configHasRegistry: readFileSync(configFile, 'utf8').includes('registry'),
              document: (await backend.read()) !== null,
            }
            await backend.secrets!.set('_registry', 'account', `kept-for-${url}`)
            return {account: {created: true}}
          },
          report: {made: {url}},
          section: {password, type: 'remote', url},
        }
      },
      secrets: ['hetzner_api_token'],
    },
    summary: 'a remote store',
  }
}

function deps(
  registries: RegistryDescriptor[],
  ask: SetupDeps['questions'],
  backends: Record<string, RegistryBackend> = {},
): SetupDeps & {sections: Array<Record<string, unknown>>; contexts: Array<readonly string[]>} {
  const sections: Array<Record<string, unknown>> = []
  const contexts: Array<readonly string[]> = []
  return {
    async backendFor(section) {
      sections.push(section)
      const backend = backends[String(section.type)]
      if (!backend) throw new MorpheusError('PLUGIN', `no backend ${String(section.type)}`)
      return guardBackend(backend)
    },
    cacheDir: join(dir, 'cache'),
    configPath: configFile,
    async context(_d, secrets) {
      contexts.push(secrets)
      return testContext({}, {secrets: {hetzner_api_token: 'tok'}})
    },
    contexts,
    log: {debug() {}, info() {}, warn() {}},
    questions: ask,
    registries: registries.map((descriptor) => ({descriptor, plugin: {name: `@test/${descriptor.name}`}})),
    sections,
  }
}

const noTerminal = (given: Record<string, string | undefined> = {}) =>
  questions({given, interactive: false, prompts: async () => Promise.reject(new Error('no terminal'))})

test('local: the registry in a file here; the config keeps its other keys, gets registry.type none, and stays 0600', async () => {
  const local = new MemoryRegistry('file:///x/registry.json')
  const d = deps([], noTerminal(), {none: local})
  const result = await setUpRegistry(d, 'local')
  expect(result).toEqual({
    created: true,
    location: 'file:///x/registry.json',
    probe: {concurrency: 'compare-and-swap', notes: ['memory: compare-and-swap']},
    setup: {choice: 'local', config: configFile},
  })
  expect(parse(readFileSync(configFile, 'utf8'))).toEqual({forest: {parallel: 3}, registry: {type: 'none'}})
  expect(statSync(configFile).mode & 0o777).toBe(0o600)
  expect(await local.read()).not.toBeNull()
  // a second run finds the document
  expect((await setUpRegistry(d, 'local')).created).toBe(false)
})

test("a backend's set-up asks its own questions (given answers first), is probed and finished before the config names it", async () => {
  const seen: Parameters<typeof remoteOffer>[0] = {requests: []}
  const remote = new MemoryRegistry('https://store.example/doc.json')
  const script = scripted({'URL of the document': 'https://store.example/doc.json'})
  const d = deps(
    [remoteOffer(seen)],
    questions({env: {REMOTE_PW: 'pw'}, given: {'password-env': 'REMOTE_PW'}, interactive: true, prompts: script.prompts}),
    {remote},
  )
  const result = await setUpRegistry(d, 'remote-existing')
  // only the question without a given answer was asked; the secret is kept as a reference
  expect(script.asked).toEqual(['URL of the document'])
  expect(seen.requests[0].choice).toBe('remote-existing')
  expect(d.contexts).toEqual([['hetzner_api_token']])
  expect(d.sections).toEqual([{password: '${REMOTE_PW}', type: 'remote', url: 'https://store.example/doc.json'}])
  // finish ran once the document existed and before the config was written
  expect(seen.finishedWith).toEqual({configHasRegistry: false, document: true})
  expect(await remote.secrets.get('_registry', 'account')).toBe('kept-for-https://store.example/doc.json')
  expect(result.setup).toEqual({
    account: {created: true},
    choice: 'remote-existing',
    config: configFile,
    made: {url: 'https://store.example/doc.json'},
  })
  expect((parse(readFileSync(configFile, 'utf8')) as {registry: unknown}).registry).toEqual({
    password: '${REMOTE_PW}',
    type: 'remote',
    url: 'https://store.example/doc.json',
  })
})

test('without a terminal: a missing answer is a usage error naming its flag, and nothing is written', async () => {
  const before = readFileSync(configFile, 'utf8')
  const d = deps([remoteOffer({requests: []})], noTerminal({'password-env': 'REMOTE_PW'}), {remote: new MemoryRegistry()})
  const e = await rejection(setUpRegistry(d, 'remote-new'))
  expect(e).toBeInstanceOf(MorpheusError)
  expect(e.kind).toBe('USAGE')
  expect(e.message).toBe('--url is required without a terminal')
  expect(e.hint).toContain('Pass --url')
  // a secret's variable must be a name, and set
  const badName = await rejection(
    setUpRegistry(deps([remoteOffer({requests: []})], noTerminal({'password-env': 'not a name', url: 'u'})), 'remote-new'),
  )
  expect(badName.message).toBe('--password-env must name an environment variable, not "not a name"')
  const unset = await rejection(
    setUpRegistry(
      deps(
        [remoteOffer({requests: []})],
        questions({
          env: {},
          given: {'password-env': 'UNSET_PW', url: 'u'},
          interactive: false,
          prompts: async () => Promise.reject(new Error('no')),
        }),
      ),
      'remote-new',
    ),
  )
  expect(unset.message).toBe('--password-env UNSET_PW: that variable is not set')
  expect(unset.kind).toBe('USAGE')
  // no choice and no terminal
  const none = await rejection(setUpRegistry(deps([remoteOffer({requests: []})], noTerminal()), undefined))
  expect(none.message).toBe('no registry set-up chosen and no terminal to ask')
  expect(none.hint).toContain('--setup remote-new|remote-existing|local')
  expect(readFileSync(configFile, 'utf8')).toBe(before)
})

test('on a terminal with no choice: the offered set-ups are asked for, the first by default', async () => {
  const picked: unknown[] = []
  const base = noTerminal()
  const ask = {...base, choose: async (q: Parameters<typeof base.choose>[0]) => (picked.push(q), 'local'), interactive: true}
  const result = await setUpRegistry(deps([remoteOffer({requests: []})], ask, {none: new MemoryRegistry()}), undefined)
  expect(result.setup?.choice).toBe('local')
  expect(picked).toEqual([
    {
      choices: [
        {title: 'Make a new remote store', value: 'remote-new'},
        {title: 'Use a remote store you have', value: 'remote-existing'},
        {title: 'Skip: local only (this device only)', value: 'local'},
      ],
      default: 'remote-new',
      message: 'Where should the registry live?',
    },
  ])
  expect(setupChoices([]).map((c) => c.value)).toEqual(['local'])
})

test('a registry that does not answer, or a set-up that fails, leaves the config as it was; errors keep their exit codes and name the plugin', async () => {
  const before = readFileSync(configFile, 'utf8')
  const broken = new MemoryRegistry()
  broken.failNext('write', {code: 'AUTH', message: 'password refused'})
  const e = await rejection(setUpRegistry(deps([], noTerminal(), {none: broken}), 'local'))
  expect(e.kind).toBe('REGISTRY')
  expect(e.message).toMatch(/password refused/)
  const unsafe = new MemoryRegistry()
  unsafe.concurrency = 'none'
  expect((await rejection(setUpRegistry(deps([], noTerminal(), {none: unsafe}), 'local'))).kind).toBe('REGISTRY')
  expect(await unsafe.read()).toBeNull()

  const failing = remoteOffer({requests: []})
  failing.setup!.load = async () => async () => {
    throw pluginError('CONFIG', 'creating a store needs a token', 'export THE_TOKEN=...')
  }
  const config = await rejection(setUpRegistry(deps([failing], noTerminal()), 'remote-new'))
  expect(config.kind).toBe('CONFIG')
  expect(config.message).toBe('registry backend remote (@test/remote): creating a store needs a token')
  expect(config.hint).toBe('export THE_TOKEN=...')
  const unknown = await rejection(setUpRegistry(deps([], noTerminal()), 'remote-new'))
  expect(unknown.kind).toBe('PLUGIN')
  expect(unknown.message).toMatch(/"remote-new" is offered by no installed registry plugin \(offered: local\)/)
  expect(readFileSync(configFile, 'utf8')).toBe(before)
  expect(existsSync(join(dir, 'cache'))).toBe(true)
})
