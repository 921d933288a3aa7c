import {MorpheusError, errorCode} from '../../../src/errors.js'
import {isTransient} from '../../../src/plugins/helpers.js'
import {guardBackend, guardProvider, guardSecrets, originalError, pluginMessage} from '../../../src/plugins/guard.js'
import type {ForestRecord, NodeRecord, Provider, RegistryBackend} from '../../../src/plugin-api/index.js'
import {RegistryStore} from '../../../src/registry/store.js'
import {MemoryProvider} from '../../../src/testing/memory-provider.js'
import {MemoryRegistry} from '../../../src/testing/memory-registry.js'
import {rejection} from '../../helpers/unit.js'

const forest = {id: 'f1'} as ForestRecord
const node = {id: 'node-2'} as NodeRecord
const signal = new AbortController().signal
const broke = (code: string, message: string, extra: object = {}) => Object.assign(new Error(message), {code, hint: 'do this', ...extra})

describe('guardProvider', () => {
  test('what a call throws becomes a MorpheusError naming the provider (and the node), keeping code, hint and the original', async () => {
    const original = broke('FAILED', 'cannot destroy node-2')
    const raw = new MemoryProvider()
    raw.destroyNode = async () => {
      throw original
    }
    const p = guardProvider(raw, 'memory')
    const e = await rejection(p.destroyNode(node, forest, signal))
    expect(e).toBeInstanceOf(MorpheusError)
    expect(e).toMatchObject({code: 'FAILED', hint: 'do this', kind: 'PROVIDER', message: 'provider memory: node-2: cannot destroy node-2'})
    expect(e.exitCode).toBe(5)
    expect(e.cause).toBe(original)
    expect(originalError(e)).toBe(original)
    expect(pluginMessage(e)).toBe('cannot destroy node-2')
  })

  test('NOT_FOUND keeps its own kind (exit 6) and its code', async () => {
    const raw = new MemoryProvider()
    raw.listNodes = async () => {
      throw broke('NOT_FOUND', 'no such forest')
    }
    const e = await rejection(guardProvider(raw, 'memory').listNodes('f1', signal))
    expect(e).toMatchObject({code: 'NOT_FOUND', kind: 'NOT_FOUND', message: 'provider memory: no such forest'})
    expect(errorCode(e)).toBe('NOT_FOUND')
  })

  test('a synchronous method (reserve) throws the mapped error synchronously', () => {
    const raw = new MemoryProvider()
    raw.reserve = () => {
      throw broke('FAILED', 'no addresses left')
    }
    const p = guardProvider(raw, 'memory')
    let thrown: unknown
    try {
      p.reserve({count: 1, existing: [], forest, ids: ['node-1']})
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(MorpheusError)
    expect(thrown).toMatchObject({kind: 'PROVIDER', message: 'provider memory: no addresses left'})
  })

  test('an estimate names what was asked; an abort stays recognisable by its signal and original', async () => {
    const controller = new AbortController()
    const raw = {
      ...new MemoryProvider(),
      estimate: async ({signal: s}: {signal: AbortSignal}) => {
        await new Promise((_, reject) => s.addEventListener('abort', () => reject(s.reason)))
        return {monthly: {amount: 0, currency: 'EUR'}, per_node: {amount: 0, currency: 'EUR'}}
      },
    } as unknown as Provider
    const pending = rejection(guardProvider(raw, 'memory').estimate!({count: 1, signal: controller.signal}))
    controller.abort()
    const e = await pending
    expect(e.message).toMatch(/^provider memory: cost estimate: /)
    expect((originalError(e) as Error).name).toBe('AbortError')
    expect(controller.signal.aborted).toBe(true)
  })

  test('results and properties pass through; optional methods the provider lacks stay absent; guarding twice changes nothing', async () => {
    const raw = new MemoryProvider()
    const p = guardProvider(raw, 'memory')
    expect(p.name).toBe('memory')
    expect(p.natsMode).toBeUndefined()
    expect(p.estimate).toBeUndefined()
    expect(p.orphans).toBeUndefined()
    expect(typeof p.prepare).toBe('function')
    expect(guardProvider(p, 'memory')).toBe(p)
    expect(p.reserve({count: 2, existing: [], forest, ids: ['node-1', 'node-2']}).map((r) => r.id)).toEqual(['node-1', 'node-2'])
    await expect(p.listNodes('f1', signal)).resolves.toEqual([])
  })

  test('every method of the contract is guarded, each error named as the engine names it', async () => {
    const fail = () => {
      throw broke('FAILED', 'no')
    }
    const methods = [
      'createNode',
      'destroyForest',
      'destroyNode',
      'destroyOrphan',
      'endpoints',
      'estimate',
      'listNodes',
      'orphans',
      'plan',
      'preflight',
      'prepare',
      'reconfigureNode',
      'reserve',
      'resources',
    ]
    const raw = Object.fromEntries([['name', 'full'], ...methods.map((m) => [m, fail])]) as unknown as Provider
    const p = guardProvider(raw, 'full') as unknown as Record<string, (...args: unknown[]) => unknown>
    const request = {count: 1, node, signal}
    const named: Record<string, string> = {}
    for (const m of methods) {
      expect(typeof p[m]).toBe('function')
      const args = ['destroyNode', 'endpoints', 'resources'].includes(m) ? [node, forest, signal] : [request, signal]
      let thrown: unknown
      try {
        await p[m](...args)
      } catch (error) {
        thrown = error
      }
      expect(thrown).toBeInstanceOf(MorpheusError)
      named[m] = (thrown as Error).message
    }
    expect(named).toEqual({
      createNode: 'provider full: node-2: no',
      destroyForest: 'provider full: no',
      destroyNode: 'provider full: node-2: no',
      destroyOrphan: 'provider full: no',
      endpoints: 'provider full: node-2: no',
      estimate: 'provider full: cost estimate: no',
      listNodes: 'provider full: no',
      orphans: 'provider full: no',
      plan: 'provider full: node-2: no',
      preflight: 'provider full: no',
      prepare: 'provider full: no',
      reconfigureNode: 'provider full: node-2: no',
      reserve: 'provider full: no',
      resources: 'provider full: node-2: no',
    })
  })

  test('a MorpheusError a plugin throws passes through untouched', async () => {
    const original = new MorpheusError('CONFIG', 'bad config')
    const raw = new MemoryProvider()
    raw.preflight = async () => {
      throw original
    }
    expect(await rejection(guardProvider(raw, 'memory').preflight(signal))).toBe(original)
  })
})

describe('guardBackend', () => {
  test('read and write errors are REGISTRY errors naming the location, keeping code and transient (what the store retries on)', async () => {
    const raw = new MemoryRegistry()
    raw.failNext('read', {code: 'UNREACHABLE', message: 'timed out', transient: true})
    const b = guardBackend(raw)
    const e = await rejection(b.read())
    expect(e).toMatchObject({code: 'UNREACHABLE', kind: 'REGISTRY', message: 'registry memory://registry: timed out', transient: true})
    expect(isTransient(e)).toBe(true)
    expect(pluginMessage(e)).toBe('timed out')
    expect(guardBackend(b)).toBe(b)
    expect(b.location).toBe('memory://registry')
  })

  test('a conflicting write keeps CONFLICT, so the store applies its batch again', async () => {
    const raw = new MemoryRegistry()
    const b = guardBackend(raw)
    await b.write('{}', {ifAbsent: true})
    const e = await rejection(b.write('{}', {ifAbsent: true}))
    expect(errorCode(e)).toBe('CONFLICT')
    expect(e.kind).toBe('REGISTRY')
  })

  test("the store retries a transient failure of the guarded backend and warns with the plugin's own message", async () => {
    const raw = new MemoryRegistry()
    raw.failNext('read', {code: 'UNREACHABLE', message: 'connection reset', transient: true})
    const warnings: string[] = []
    const store = new RegistryStore(raw, {log: {debug() {}, warn: (m) => warnings.push(m)}, transientBaseMs: 1, transientMaxMs: 1})
    await store.read()
    expect(store.stats.retries).toBe(1)
    expect(warnings).toEqual([
      expect.stringMatching(/^registry memory:\/\/registry: read failed \(connection reset\); trying again in \d+ ms$/),
    ])
  })

  test('secrets errors name the registry and "secrets"', async () => {
    const s = guardSecrets(
      {
        delete: async () => undefined,
        get: async () => {
          throw new Error('corrupt secrets file')
        },
        set: async () => undefined,
      },
      '/x/registry.json',
    )
    const e = await rejection(s.get('f1', 'cluster_auth'))
    expect(e).toMatchObject({kind: 'REGISTRY', message: 'registry /x/registry.json: secrets: corrupt secrets file'})
    expect(guardSecrets(s, '/x/registry.json')).toBe(s)
    expect(guardBackend(new MemoryRegistry()).secrets).toBeDefined()
  })

  test('nodeAccess is guarded when the backend has one: its CONFIG errors exit 3 naming the registry, others are REGISTRY errors; absent, it stays absent', async () => {
    expect(guardBackend(new MemoryRegistry()).nodeAccess).toBeUndefined()
    const access = {file: 'registry.json', mount: {description: 'd', options: 'ro', type: 'nfs4', what: 'files:/x'}}
    let answer: () => Promise<unknown> = async () => access
    const b = guardBackend(Object.assign(new MemoryRegistry(), {nodeAccess: () => answer()}) as RegistryBackend)
    expect(await b.nodeAccess!()).toEqual(access)
    answer = async () => Promise.reject(Object.assign(new Error('registry.url is not a URL'), {code: 'CONFIG', hint: 'Set it'}))
    expect(await rejection(b.nodeAccess!())).toMatchObject({
      code: 'CONFIG',
      hint: 'Set it',
      kind: 'CONFIG',
      message: 'registry memory://registry: node access: registry.url is not a URL',
    })
    answer = async () => Promise.reject(Object.assign(new Error('secrets unreadable'), {code: 'FAILED', transient: true}))
    expect(await rejection(b.nodeAccess!())).toMatchObject({
      kind: 'REGISTRY',
      message: 'registry memory://registry: node access: secrets unreadable',
      transient: true,
    })
  })
})
