import {strict as assert} from 'node:assert'

import {probeNode} from '../monitor/nats.js'
import type {ForestRecord, NatsMode, NatsPorts, NodeRecord, Provider} from '../plugin-api/index.js'
import {recordedEndpoints} from '../forest/endpoints.js'
import {runner, same, type TestRunner} from './kit-support.js'

export interface ProviderKitSetup {
  provider: Provider
  /** Default node ports (the context's ports). */
  ports: NatsPorts
  /** Called after the test with this setup, whether it passed or not: remove what create() made (a temporary directory, ...). */
  cleanup?(): void | Promise<void>
}

export interface ProviderKitOptions {
  name: string
  /** A provider ready to create nodes (each test gets its own). */
  create(): ProviderKitSetup | Promise<ProviderKitSetup>
  natsMode?: NatsMode
  /** The provider implements replaceNode (repair, upgrade): the kit checks it keeps the node's id and addresses. */
  replaceNode?: boolean
  /** Per-test time limit (ms). Default 120000. */
  timeoutMs?: number
  /**
   * The test runner's `describe` and `test`. Leave it out under Jest (or any runner with global
   * `describe`/`test`) and under `node --test` (the kit then uses node:test's).
   */
  runner?: TestRunner
}

let forests = 0
function forest(ports: NatsPorts): ForestRecord {
  const id = `forest-kit${process.pid}-${++forests}`
  return {
    created_at: new Date().toISOString(),
    id,
    last_expansion: null,
    node_count: 1,
    operation: null,
    ports,
    provider: 'kit',
    size: 'kit',
    status: 'planting',
  }
}

function node(f: ForestRecord, reservation: Partial<NodeRecord> & {id: string}): NodeRecord {
  return {created_at: new Date().toISOString(), forest_id: f.id, ip: '', role: 'edge', status: 'creating', ...reservation} as NodeRecord
}

/**
 * The provider conformance kit: what the core relies on from every provider. It creates real
 * nodes (one-node forests), so run it where the provider's prerequisites are met (nats-server for
 * local nodes, the simulator for a cloud). Call it at the top level of a test file; it defines one
 * `describe()` block, under Jest, under `node --test`, or with the runner given in `options.runner`.
 */
export function providerConformance(options: ProviderKitOptions): void {
  const {describe, test} = runner(options.runner)
  const timeout = options.timeoutMs ?? 120_000
  const natsMode = options.natsMode ?? 'system'
  const each = (name: string, fn: (setup: ProviderKitSetup) => Promise<void>) =>
    test(
      name,
      async () => {
        const setup = await options.create()
        try {
          await setup.provider.preflight(new AbortController().signal)
          await fn(setup)
        } finally {
          await setup.cleanup?.()
        }
      },
      timeout,
    )

  async function createOne(setup: ProviderKitSetup, f: ForestRecord, signal = new AbortController().signal): Promise<NodeRecord> {
    const [r] = setup.provider.reserve({count: 1, existing: [], forest: f, ids: ['node-1']})
    let record = node(f, r)
    const prepared = await setup.provider.prepare?.({existing: [], forest: f, nodes: [record], progress: () => undefined, signal})
    record = {...record, ...prepared?.addresses?.['node-1']}
    const created = await setup.provider.createNode({
      addressesKnown: (a) => void (record = {...record, ...a}),
      cluster: false,
      clusterAuth: null,
      forest: f,
      natsMode,
      node: record,
      peers: [],
      ports: record.ports ?? setup.ports,
      progress: () => undefined,
      signal,
    })
    return {...record, ...created, status: 'starting'} as NodeRecord
  }

  describe(`provider conformance: ${options.name}`, () => {
    each('reserve() is pure: same answer for the same request, the request untouched, the ids asked for', async ({provider, ports}) => {
      const f = forest(ports)
      const existing: NodeRecord[] = [node(f, {id: 'node-9', ip: '127.0.0.250'})]
      const request = {count: 3, existing, forest: f, ids: ['node-1', 'node-2', 'node-3']}
      const before = JSON.stringify(request)
      const a = provider.reserve(request)
      const b = provider.reserve(request)
      same(a, b)
      assert.equal(JSON.stringify(request), before)
      same(
        a.map((r) => r.id),
        request.ids,
      )
      const addresses = a.filter((r) => r.ip).map((r) => `${r.ip}:${(r.ports ?? ports).cluster}`)
      assert.equal(new Set(addresses).size, addresses.length, 'two reservations share an address and port')
      assert.ok(!a.some((r) => r.ip && r.ip === existing[0].ip && !r.ports), 'a reservation takes an address that is in use')
    })

    each('a created node answers on its monitoring endpoint, is listed, and destroyNode is idempotent', async (setup) => {
      const f = forest(setup.ports)
      const created = await createOne(setup, f)
      const ports = created.ports ?? setup.ports
      const monitor = setup.provider.endpoints?.(created, ports).monitor ?? recordedEndpoints(created, ports).monitor
      const health = await probeNode(monitor, 3000)
      assert.ok(health.reachable, `the node does not answer at ${monitor}: ${health.error}`)
      const listed = await setup.provider.listNodes(f.id, new AbortController().signal)
      same(
        listed.map((n) => n.id),
        ['node-1'],
      )
      await setup.provider.destroyNode(created, f, new AbortController().signal)
      await setup.provider.destroyNode(created, f, new AbortController().signal)
      await setup.provider.destroyForest?.(f, new AbortController().signal)
      await setup.provider.destroyForest?.(f, new AbortController().signal)
      same(await setup.provider.listNodes(f.id, new AbortController().signal), [])
      assert.equal((await probeNode(monitor, 1000)).reachable, false, 'the node still answers after destroyNode')
    })

    each('destroyNode of a node never created is not an error', async (setup) => {
      const f = forest(setup.ports)
      const [r] = setup.provider.reserve({count: 1, existing: [], forest: f, ids: ['node-1']})
      await setup.provider.destroyNode(node(f, r), f, new AbortController().signal)
      same(await setup.provider.listNodes(f.id, new AbortController().signal), [])
    })

    each('listNodes() finds a machine the registry forgot (an orphan), so teardown can remove it', async (setup) => {
      const f = forest(setup.ports)
      const created = await createOne(setup, f)
      // The kit keeps no record of it: only the provider can say it exists.
      const found = await setup.provider.listNodes(f.id, new AbortController().signal)
      assert.equal(found.length, 1)
      assert.equal(found[0].forest_id, f.id)
      assert.ok(found[0].provider_ref, 'listNodes gives each machine a provider_ref')
      await setup.provider.destroyNode({...created, provider_ref: found[0].provider_ref}, f, new AbortController().signal)
      same(await setup.provider.listNodes(f.id, new AbortController().signal), [])
    })

    if (options.replaceNode)
      each(
        'replaceNode: a new machine with the same id and addresses answers where the old one did; listed once; idempotent',
        async (setup) => {
          const {provider} = setup
          assert.equal(typeof provider.replaceNode, 'function', 'the kit was told the provider replaces nodes, but it has no replaceNode')
          const f = forest(setup.ports)
          const created = await createOne(setup, f)
          const ports = created.ports ?? setup.ports
          const monitor = provider.endpoints?.(created, ports).monitor ?? recordedEndpoints(created, ports).monitor
          const request = {
            cluster: false,
            clusterAuth: null,
            forest: f,
            natsMode,
            node: created,
            peers: [],
            ports,
            progress: () => undefined,
            signal: new AbortController().signal,
          }
          const replaced = await provider.replaceNode!({
            ...request,
            graceful: true,
            ...(created.versions ? {versions: created.versions} : {}),
          })
          for (const key of ['ip', 'ipv4', 'ipv6'] as const) {
            if (created[key]) assert.equal(replaced[key] ?? created[key], created[key], `replaceNode changed the node's ${key}`)
          }
          const health = await probeNode(monitor, 3000)
          assert.ok(health.reachable, `the replaced node does not answer at ${monitor}: ${health.error}`)
          same(
            (await provider.listNodes(f.id, new AbortController().signal)).map((n) => n.id),
            ['node-1'],
          )
          // Again, as after a Ctrl-C: it finishes the job, and the node still answers at the same place.
          const again = await provider.replaceNode!({...request, graceful: false, node: {...created, ...replaced}})
          if (created.ip) assert.equal(again.ip ?? created.ip, created.ip)
          assert.ok((await probeNode(monitor, 3000)).reachable, 'the node does not answer after a second replaceNode')
          same(
            (await provider.listNodes(f.id, new AbortController().signal)).map((n) => n.id),
            ['node-1'],
          )
          await provider.destroyNode({...created, ...again}, f, new AbortController().signal)
          await provider.destroyForest?.(f, new AbortController().signal)
          same(await provider.listNodes(f.id, new AbortController().signal), [])
        },
      )

    each('abort mid-create: createNode settles soon, and whatever it made is listed and removable', async (setup) => {
      const f = forest(setup.ports)
      const controller = new AbortController()
      setTimeout(() => controller.abort(), 20)
      const started = Date.now()
      const outcome = await createOne(setup, f, controller.signal).then(
        () => 'created',
        () => 'rejected',
      )
      assert.ok(Date.now() - started < 15_000, `createNode took ${Date.now() - started} ms after an abort`)
      assert.ok(['created', 'rejected'].includes(outcome))
      const left = await setup.provider.listNodes(f.id, new AbortController().signal)
      const [r] = setup.provider.reserve({count: 1, existing: [], forest: f, ids: ['node-1']})
      for (const n of left) await setup.provider.destroyNode(node(f, {...r, provider_ref: n.provider_ref}), f, new AbortController().signal)
      await setup.provider.destroyForest?.(f, new AbortController().signal)
      same(await setup.provider.listNodes(f.id, new AbortController().signal), [])
    })
  })
}
