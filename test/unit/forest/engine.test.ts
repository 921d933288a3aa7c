import {Growth} from '../../../src/forest/grow.js'
import {nodeCount, Plant} from '../../../src/forest/plant.js'
import {OperationRunner} from '../../../src/forest/runner.js'
import {classify, describeLeader, forestStatus, jetstreamLeader} from '../../../src/forest/status.js'
import {teardown} from '../../../src/forest/teardown.js'
import {RegistryStore} from '../../../src/registry/store.js'
import {MemoryRegistry} from '../../../src/testing/memory-registry.js'
import {engine, grow, plant, stored} from '../../helpers/engine.js'
import {rejection, until} from '../../helpers/unit.js'

describe('plant', () => {
  test('a 3-node forest forms; every node booted with the full peer list; recorded active', async () => {
    const e = engine()
    const result = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'small'})
    expect(result.forest.status).toBe('active')
    expect(result.nodes.map((n) => n.status)).toEqual(['active', 'active', 'active'])
    expect(e.provider.calls.filter((c) => c.startsWith('create'))).toEqual([
      'create node-1 peers=node-2,node-3',
      'create node-2 peers=node-1,node-3',
      'create node-3 peers=node-1,node-2',
    ])
    const doc = stored(e.backend)
    expect(doc.forests[result.forest.id]).toMatchObject({node_count: 3, operation: null, status: 'active'})
  })

  test('--nodes wins over a size name', async () => {
    expect(nodeCount({large: 5}, 'large', 7)).toBe(7)
    const e = engine()
    const planting = await Plant.prepare(e.deps, {nodes: 2, provider: 'memory', size: 'large'})
    expect(planting.count).toBe(2)
    expect(planting.size).toBe('custom')
    expect(() => nodeCount({small: 1}, 'huge')).toThrow(/unknown size "huge"; sizes: small \(1 node\)/)
  })

  test('addresses known only at create: the first node is created alone, the others know it; the forest forms', async () => {
    const e = engine({provider: {addressesAtCreate: true}})
    const result = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    const creates = e.provider.calls.filter((c) => c.startsWith('create'))
    expect(creates[0]).toBe('create node-1 peers=')
    expect(creates.slice(1).every((c) => c.includes('node-1'))).toBe(true)
    expect(result.nodes.every((n) => n.ip.startsWith('10.2.0.'))).toBe(true)
    expect(stored(e.backend).nodes[result.forest.id].map((n: any) => n.ip)).toEqual(result.nodes.map((n) => n.ip))
  })

  test('addresses from prepare() are recorded before any node is created, and every create sees all peers', async () => {
    const e = engine({provider: {addressesAtPrepare: true}})
    const writesBefore: number[] = []
    const original = e.provider.createNode.bind(e.provider)
    e.provider.createNode = async (r) => {
      writesBefore.push(stored(e.backend).nodes[r.forest.id].filter((n: any) => n.ip).length)
      return original(r)
    }
    await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    expect(writesBefore).toEqual([3, 3, 3])
    expect(e.provider.calls.filter((c) => c.startsWith('create'))).toContain('create node-1 peers=node-2,node-3')
  })

  test('per-node ports on one address: the peers are distinct nodes, the forest forms', async () => {
    const e = engine({provider: {portsPerNode: true}})
    const result = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    expect(new Set(result.nodes.map((n) => n.ip))).toEqual(new Set(['127.0.0.1']))
    expect(result.nodes.map((n) => n.ports?.monitor)).toEqual([18222, 18223, 18224])
  })

  test('a partial createNode failure: the created node is kept, the failed one is marked failed, never-attempted ones are dropped, forest failed', async () => {
    const e = engine({capabilities: {maxParallel: 1}, provider: {failCreate: new Set(['node-2'])}})
    const error = await rejection(plant(e.deps, {nodes: 4, provider: 'memory', size: 'x'}))
    expect(error).toMatchObject({kind: 'PROVIDER'})
    expect(error.message).toMatch(/1 of 4 new nodes could not be created; provider memory: node-2: cannot create node-2/)
    const doc = stored(e.backend)
    const [id] = Object.keys(doc.forests)
    expect(doc.forests[id]).toMatchObject({operation: null, status: 'failed'})
    // node-1 answers at the last look settle() takes: recorded active.
    expect(doc.nodes[id].map((n: any) => [n.id, n.status])).toEqual([
      ['node-1', 'active'],
      ['node-2', 'failed'],
    ])
  })

  test('reserve() returning the wrong count is refused before anything is created or written', async () => {
    const e = engine({provider: {reserveCount: 2}})
    const error = await rejection(plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'}))
    expect(error.message).toMatch(/reserve\(\) returned 2 reservations for 3 nodes/)
    expect(e.backend.stored).toBeNull()
    expect(e.provider.calls.some((c) => c.startsWith('create'))).toBe(false)
  })

  test('prepare() failing: nothing created, the forest is recorded failed with its reserved nodes dropped', async () => {
    const e = engine({provider: {failPrepare: true}})
    const error = await rejection(plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'}))
    expect(error.message).toMatch(/provider memory: prepare failed/)
    const doc = stored(e.backend)
    const [id] = Object.keys(doc.forests)
    expect(doc.forests[id].status).toBe('failed')
    expect(doc.nodes[id]).toEqual([])
  })

  test('a forest that does not form fails with NOT_FORMED and is recorded failed, nodes kept', async () => {
    const e = engine({provider: {noRoutes: true}, settings: {form_timeout_seconds: 0.2}})
    const error = await rejection(plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'}))
    expect(error.kind).toBe('NOT_FORMED')
    const doc = stored(e.backend)
    const [id] = Object.keys(doc.forests)
    expect(doc.forests[id].status).toBe('failed')
    expect(doc.nodes[id]).toHaveLength(3)
  })

  test.each([
    ['claim', 0],
    ['create', 1],
    ['form', 2],
  ])('Ctrl-C during %s: the registry says what exists', async (phase) => {
    const e = engine({provider: {createDelayMs: 30, noRoutes: phase === 'form'}, settings: {form_timeout_seconds: 5}})
    const planting = await Plant.prepare(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    // The runner as a command runs it; each phase is interrupted a moment after it starts.
    const at: Record<string, [string, number]> = {create: ['Creating 3 nodes', 10], form: ['Waiting for routes', 30]}
    const show = {
      async run(phases: Array<{title: string; run(): Promise<void>}>) {
        for (const p of phases) {
          if (at[phase] && p.title.startsWith(at[phase][0])) setTimeout(() => e.controller.abort(), at[phase][1])
          await p.run()
        }
      },
    }
    if (phase === 'claim') e.controller.abort()
    const error: any = await rejection(new OperationRunner({show, signal: e.deps.signal}).run(planting))
    expect(error.kind).toBe('INTERRUPTED')
    if (phase === 'claim') {
      expect(e.backend.stored).toBeNull()
      return expect(e.provider.machines.size).toBe(0)
    }
    const doc = stored(e.backend)
    const [id] = Object.keys(doc.forests)
    expect(doc.forests[id]).toMatchObject({operation: null, status: 'interrupted'})
    // Exactly the machines that exist are listed (the ones whose create was cut short are marked failed).
    const listed = doc.nodes[id]
      .filter((n: any) => n.status !== 'failed')
      .map((n: any) => n.id)
      .sort()
    expect(listed).toEqual([...e.provider.machines.values()].map((m) => m.id).sort())
    if (phase === 'form') expect(listed).toEqual(['node-1', 'node-2', 'node-3'])
  })

  test("Ctrl-C during create: settle writes on a clock of its own, never with the command's aborted signal", async () => {
    const e = engine({provider: {createDelayMs: 30}})
    const signals: Array<AbortSignal | undefined> = []
    const write = e.backend.write.bind(e.backend)
    e.backend.write = (body, condition, options) => {
      if (e.controller.signal.aborted) signals.push(options?.signal)
      return write(body, condition, options)
    }
    const planting = await Plant.prepare(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    await planting.claim()
    setTimeout(() => e.controller.abort(), 10)
    const error: any = await planting.create().then(
      () => new Error('should have been interrupted'),
      (caught) => planting.settle(caught),
    )
    expect(error.kind).toBe('INTERRUPTED')
    expect(signals.length).toBeGreaterThan(0)
    for (const signal of signals) {
      expect(signal).toBeDefined()
      expect(signal).not.toBe(e.controller.signal)
      expect(signal!.aborted).toBe(false)
    }
    expect(stored(e.backend).forests[planting.forest!.id]).toMatchObject({operation: null, status: 'interrupted'})
    // Off settle's clock afterwards: the store may go on serving (grow --auto, the next forest).
    signals.length = 0
    await e.deps.store.update((doc) => void (doc.forests[planting.forest!.id].note = 'later'), {now: true})
    expect(signals).toEqual([undefined])
  })

  test('the route credentials cannot be stored after the claim: the claimed forest is settled, not left planting', async () => {
    const e = engine()
    e.backend.secrets.set = async () => {
      throw new Error('secrets: connection reset')
    }
    const planting = await Plant.prepare(e.deps, {nodes: 2, provider: 'memory', size: 'x'})
    const error: any = await planting.claim().then(
      () => new Error('should have failed'),
      (caught) => planting.settle(caught),
    )
    expect(error.message).toContain('connection reset')
    const doc = stored(e.backend)
    // Nothing was created: the forest is recorded failed, with no node (none was asked for).
    expect(Object.values(doc.forests)).toEqual([expect.objectContaining({operation: null, status: 'failed'})])
    expect(e.provider.machines.size).toBe(0)
  })

  test.each([
    ['not a cloud: the machines stay, so do their records', false],
    ['a cloud whose rollback cannot remove them: their records stay', true],
  ])('Ctrl-C while creates that left machines behind were under way: %s', async (_name, cloud) => {
    const e = engine({
      capabilities: {cloud},
      provider: {createDelayMs: 500, failDestroy: cloud ? new Set(['node-1', 'node-2', 'node-3']) : undefined, leaveOnAbort: true},
    })
    const planting = await Plant.prepare(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    await planting.claim()
    setTimeout(() => e.controller.abort(), 20)
    const error: any = await planting.create().then(
      () => new Error('should have been interrupted'),
      (caught) => planting.settle(caught),
    )
    expect(error.kind).toBe('INTERRUPTED')
    // Every create was interrupted, so none returned; the machines exist all the same.
    expect(e.provider.calls.filter((c) => c.startsWith('create'))).toHaveLength(3)
    expect([...e.provider.machines.keys()].map((k) => k.split('/')[1]).sort()).toEqual(['node-1', 'node-2', 'node-3'])
    const doc = stored(e.backend)
    const id = planting.batch!.forest.id
    expect(doc.forests[id]).toMatchObject({operation: null, status: 'interrupted'})
    // Each machine stays recorded (its create threw: failed, it may exist), so teardown finds and removes it.
    expect(doc.nodes[id].map((n: any) => [n.id, n.status])).toEqual([
      ['node-1', 'failed'],
      ['node-2', 'failed'],
      ['node-3', 'failed'],
    ])
    // A later teardown (a new command, so a new signal) finds them there and removes every machine.
    e.provider.options.failDestroy = undefined
    await teardown({...e.deps, signal: new AbortController().signal}, {forestId: id})
    expect(e.provider.machines.size).toBe(0)
  })

  test('a cloud provider: a failed plant removes what it made and leaves no forest behind', async () => {
    const e = engine({capabilities: {cloud: true, maxParallel: 1}, provider: {failCreate: new Set(['node-3'])}})
    const error = await rejection(plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'}))
    expect(error.message).toMatch(/every node was removed again; nothing is left/)
    expect(e.provider.machines.size).toBe(0)
    expect(e.provider.calls).toEqual(expect.arrayContaining(['destroy node-1', 'destroy node-2', 'destroy node-3']))
    expect(e.provider.calls.at(-1)).toMatch(/^destroyForest /)
    expect(stored(e.backend).forests).toEqual({})
  })

  test.each([1, 5, 20])('a plant of %i nodes: at most 4 writes, no conflict with itself', async (n) => {
    const e = engine({provider: {createDelayMs: 5}, store: {minIntervalMs: 2000}})
    await plant(e.deps, {nodes: n, provider: 'memory', size: 'x'})
    expect(e.backend.counts.writes).toBeLessThanOrEqual(4)
    expect(e.backend.counts.conflicts).toBe(0)
    expect(e.deps.store.stats.conflicts).toBe(0)
  })

  test('route credentials are generated per forest and kept in the secret store, never in the document', async () => {
    const e = engine()
    const seen: unknown[] = []
    const original = e.provider.createNode.bind(e.provider)
    e.provider.createNode = async (r) => {
      seen.push(r.clusterAuth)
      return original(r)
    }
    const a = await plant(e.deps, {nodes: 2, provider: 'memory', size: 'x'})
    const b = await plant(e.deps, {nodes: 1, provider: 'memory', size: 'x'})
    const authA = JSON.parse((await e.backend.secrets.get(a.forest.id, 'cluster_auth'))!)
    const authB = JSON.parse((await e.backend.secrets.get(b.forest.id, 'cluster_auth'))!)
    expect(authA.password).toHaveLength(32)
    expect(authA.password).not.toBe(authB.password)
    expect(seen[0]).toEqual(authA)
    expect(e.backend.stored).not.toContain(authA.password)
  })
})

describe('teardown', () => {
  test('removes the listed nodes and the orphans the provider still has', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 2, provider: 'memory', size: 'x'})
    e.provider.machines.set(`${forest.id}/node-9`, {
      cluster: true,
      forest_id: forest.id,
      id: 'node-9',
      ip: '10.9.9.9',
      peers: [],
      running: true,
    })
    const result = await teardown(e.deps, {forestId: forest.id})
    expect(result).toMatchObject({orphans_removed: ['node-9'], removed: ['node-1', 'node-2']})
    expect(e.provider.machines.size).toBe(0)
    expect(stored(e.backend).forests).toEqual({})
    expect(await e.backend.secrets.get(forest.id, 'cluster_auth')).toBeUndefined()
  })

  test('a destroyNode failure fails the command and keeps the forest with the node that remains', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    e.provider.options.failDestroy = new Set(['node-2'])
    const error = await rejection(teardown(e.deps, {forestId: forest.id}))
    expect(error).toMatchObject({kind: 'PROVIDER'})
    expect(error.message).toMatch(/1 of 3 nodes of .* could not be removed; provider memory: node-2: cannot destroy node-2/)
    const doc = stored(e.backend)
    expect(doc.forests[forest.id]).toMatchObject({operation: null, status: 'tearing_down'})
    expect(doc.nodes[forest.id].map((n: any) => n.id)).toEqual(['node-2'])
    e.provider.options.failDestroy = undefined
    await teardown(e.deps, {forestId: forest.id})
    expect(stored(e.backend).forests).toEqual({})
  })

  test('listNodes failing: the listed nodes are still removed, with a warning', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 2, provider: 'memory', size: 'x'})
    e.provider.options.failList = true
    await teardown(e.deps, {forestId: forest.id})
    expect(e.warnings.join('\n')).toMatch(
      /could not list provider memory's machines for .* \(listing failed\); removing the nodes the registry lists/,
    )
    expect(e.provider.machines.size).toBe(0)
  })

  test('destroyForest failing: the command fails and the forest entry stays', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 1, provider: 'memory', size: 'x'})
    e.provider.options.failDestroyForest = true
    const error = await rejection(teardown(e.deps, {forestId: forest.id}))
    expect(error.message).toMatch(/every node of .* is gone, but the forest-wide clean-up failed/)
    expect(stored(e.backend).forests[forest.id]).toBeDefined()
  })

  test('a machine-local forest of another device: refused, touching nothing; --force drops only the entry', async () => {
    const backend = new MemoryRegistry()
    const a = engine({backend, capabilities: {machineLocal: true}, device: 'laptop'})
    const {forest} = await plant(a.deps, {nodes: 1, provider: 'memory', size: 'x'})
    expect(stored(backend).forests[forest.id].device).toBe('laptop')
    const b = engine({backend, capabilities: {machineLocal: true}, device: 'desktop'})
    const error = await rejection(teardown(b.deps, {forestId: forest.id}))
    expect(error).toMatchObject({kind: 'OTHER_DEVICE'})
    expect(error.message).toMatch(/runs on device laptop/)
    expect(stored(backend).forests[forest.id].status).toBe('active')
    const status = await forestStatus(b.deps, forest.id)
    expect(status).toMatchObject({device: 'laptop', health: 'elsewhere'})
    const forced = await teardown(b.deps, {force: true, forestId: forest.id})
    expect(forced.entry_only).toBe(true)
    expect(b.provider.calls.filter((c) => c.startsWith('destroy'))).toEqual([])
    expect(stored(backend).forests).toEqual({})
    expect(b.warnings.join()).toMatch(/processes there keep running/)
  })
})

describe('status', () => {
  test('healthy, degraded (answers without routes), down, empty', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    expect((await forestStatus(e.deps, forest.id)).health).toBe('healthy')
    e.provider.options.noRoutes = true
    const degraded = await forestStatus(e.deps, forest.id)
    expect(degraded.health).toBe('degraded')
    expect(degraded.jetstream_leader).toBeNull()
    e.provider.options.noRoutes = false
    e.provider.machines.get(`${forest.id}/node-1`)!.running = false
    expect((await forestStatus(e.deps, forest.id)).health).toBe('degraded')
    for (const m of e.provider.machines.values()) m.running = false
    const down = await forestStatus(e.deps, forest.id)
    expect(down.health).toBe('down')
    expect(down.nodes.every((n) => n.health?.reachable === false)).toBe(true)
    expect(classify([])).toBe('empty')
  })

  test('no JetStream leader without a quorum, nor when the named leader does not answer: the name is reported as stale', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    const healthy = await forestStatus(e.deps, forest.id)
    expect(healthy).toMatchObject({jetstream_leader: 'node-1', jetstream_leader_stale: null})
    expect(describeLeader(healthy)).toBe('JetStream leader: node-1')
    // Two of three gone: the last one still names a leader (itself), but one node is no quorum.
    e.provider.machines.get(`${forest.id}/node-1`)!.running = false
    e.provider.machines.get(`${forest.id}/node-2`)!.running = false
    const alone = await forestStatus(e.deps, forest.id)
    expect(alone.nodes[2].health).toMatchObject({healthy: true, jetstream_leader: 'node-3'})
    expect(alone).toMatchObject({health: 'degraded', jetstream_leader: null, jetstream_leader_stale: 'node-3'})
    expect(describeLeader(alone)).toBe('JetStream leader: none, no quorum (1 of 3 nodes answers, 2 needed); node-3 is still named, stale')
    expect(alone.nodes[0].health?.error).toBe('connection refused')
    // A quorum answers, but the leader they name is one that does not.
    expect(
      jetstreamLeader([
        {healthy: true, jetstream_leader: 'node-1', reachable: true, routes: 1, server_name: 'node-2'},
        {healthy: true, jetstream_leader: 'node-1', reachable: true, routes: 1, server_name: 'node-3'},
        {error: 'connection refused', healthy: false, reachable: false, routes: 0},
      ]),
    ).toEqual({jetstream_leader: null, jetstream_leader_stale: 'node-1'})
    expect(
      jetstreamLeader([
        {healthy: true, jetstream_leader: 'node-2', reachable: true, routes: 1, server_name: 'node-2'},
        {healthy: true, jetstream_leader: 'node-2', reachable: true, routes: 1, server_name: 'node-3'},
        {error: 'connection refused', healthy: false, reachable: false, routes: 0},
      ]),
    ).toEqual({jetstream_leader: 'node-2', jetstream_leader_stale: null})
    expect(
      describeLeader({
        jetstream_leader: null,
        jetstream_leader_stale: null,
        nodes: [{health: {healthy: true, reachable: true, routes: 0}} as any],
      }),
    ).toBe('JetStream: standalone (one node)')
  })

  test('without the provider, nodes are probed at their recorded address and ports, with a warning', async () => {
    const e = engine({provider: {portsPerNode: true}})
    const {forest} = await plant(e.deps, {nodes: 2, provider: 'memory', size: 'x'})
    const urls: string[] = []
    e.deps.provider = async () => {
      throw new Error('not installed')
    }
    e.deps.monitor = async (u) => {
      urls.push(...u)
      return u.map(() => ({healthy: false, reachable: false, routes: 0}))
    }
    await forestStatus(e.deps, forest.id)
    expect(urls).toEqual(['http://127.0.0.1:18222', 'http://127.0.0.1:18223'])
    expect(e.warnings.join()).toMatch(/provider memory is not usable here/)
  })
})

describe('grow (Growth through the runner)', () => {
  test('a one-node forest becomes a cluster: node-1 is reconfigured first, then node-2 joins it', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 1, provider: 'memory', size: 'x'})
    const out = await grow(e.deps, {count: 1, forestId: forest.id})
    if (out.kind !== 'done') throw new Error(out.kind)
    const result = out.result
    expect(result.added.map((n) => n.id)).toEqual(['node-2'])
    const calls = e.provider.calls
    expect(calls.indexOf('reconfigure node-1 peers=node-2')).toBeGreaterThan(-1)
    expect(calls.indexOf('reconfigure node-1 peers=node-2')).toBeLessThan(calls.indexOf('create node-2 peers=node-1'))
    const doc = stored(e.backend)
    expect(doc.forests[forest.id]).toMatchObject({node_count: 2, operation: null})
    expect(doc.forests[forest.id].last_expansion).not.toBeNull()
    expect((await forestStatus(e.deps, forest.id)).health).toBe('healthy')
  })

  test('a cloud grow of a one-node forest that fails: the new node is removed and node-1 runs alone again', async () => {
    const e = engine({capabilities: {cloud: true}})
    const {forest} = await plant(e.deps, {nodes: 1, provider: 'memory', size: 'x'})
    e.provider.options.failCreate = new Set(['node-2'])
    const error = await rejection(grow(e.deps, {count: 1, forestId: forest.id}))
    expect(error.message).toMatch(/cannot create node-2/)
    expect(e.provider.calls.filter((c) => c.startsWith('reconfigure'))).toEqual([
      'reconfigure node-1 peers=node-2',
      'reconfigure node-1 peers=',
    ])
    expect([...e.provider.machines.values()].map((m) => [m.id, m.cluster])).toEqual([['node-1', false]])
    expect(stored(e.backend).nodes[forest.id].map((n: any) => n.id)).toEqual(['node-1'])
    expect((await forestStatus(e.deps, forest.id)).health).toBe('healthy')
  })

  test('a provider that cannot change a running machine (no reconfigureNode, as Hetzner): node-1 is made again as a cluster member with its addresses, then node-2 joins', async () => {
    const e = engine({capabilities: {cloud: true}, provider: {noReconfigure: true}})
    const {forest} = await plant(e.deps, {nodes: 1, provider: 'memory', size: 'x'})
    const before = stored(e.backend).nodes[forest.id][0]
    const out = await grow(e.deps, {count: 1, forestId: forest.id})
    if (out.kind !== 'done') throw new Error(out.kind)
    const calls = e.provider.calls
    // With the forest's recorded versions, not the provider's newest default.
    expect(calls.indexOf('replace node-1 nats=2.10.0')).toBeGreaterThan(-1)
    expect(calls.indexOf('replace node-1 nats=2.10.0')).toBeLessThan(calls.indexOf('create node-2 peers=node-1'))
    const node1 = e.provider.machines.get(`${forest.id}/node-1`)!
    expect(node1).toMatchObject({cluster: true, generation: 2, ip: before.ip, peers: ['node-2']})
    expect(stored(e.backend).nodes[forest.id].map((n: any) => [n.id, n.ip, n.status])).toEqual([
      ['node-1', before.ip, 'active'],
      ['node-2', expect.any(String), 'active'],
    ])
  })

  test('... and when that grow fails, node-1 is made again alone (and the new node removed)', async () => {
    const e = engine({capabilities: {cloud: true}, provider: {failCreate: new Set(['node-2']), noReconfigure: true}})
    const {forest} = await plant(e.deps, {nodes: 1, provider: 'memory', size: 'x'})
    const error = await rejection(grow(e.deps, {count: 1, forestId: forest.id}))
    expect(error.message).toMatch(/cannot create node-2/)
    expect(e.provider.calls.filter((c) => c.startsWith('replace'))).toEqual(['replace node-1 nats=2.10.0', 'replace node-1 nats=2.10.0'])
    expect([...e.provider.machines.values()].map((m) => [m.id, m.cluster, m.generation])).toEqual([['node-1', false, 3]])
    expect(stored(e.backend).nodes[forest.id].map((n: any) => n.id)).toEqual(['node-1'])
  })

  test('... and Ctrl-C while node-1 is being made again (its old machine gone, the new one not yet made): node-1 is made again alone; a re-run grows it', async () => {
    const e = engine({capabilities: {cloud: true}, provider: {noReconfigure: true, replaceDelayMs: 200}})
    const {forest} = await plant(e.deps, {nodes: 1, provider: 'memory', size: 'x'})
    const before = stored(e.backend).nodes[forest.id][0]
    const growing = grow(e.deps, {count: 1, forestId: forest.id})
    await until(() => e.provider.calls.includes('replace node-1 nats=2.10.0'))
    expect(e.provider.machines.has(`${forest.id}/node-1`)).toBe(false)
    e.controller.abort()
    const error = await rejection(growing)
    expect(error.kind).toBe('INTERRUPTED')
    expect([...e.provider.machines.values()].map((m) => [m.id, m.cluster, m.ip])).toEqual([['node-1', false, before.ip]])
    const doc = stored(e.backend)
    expect(doc.nodes[forest.id].map((n: any) => [n.id, n.status])).toEqual([['node-1', 'active']])
    expect(doc.forests[forest.id].operation).toBeNull()
    expect((await forestStatus(e.deps, forest.id)).health).toBe('healthy')

    const again = engine({backend: e.backend, capabilities: {cloud: true}, provider: {noReconfigure: true}})
    for (const [k, m] of e.provider.machines) again.provider.machines.set(k, m)
    const out = await grow(again.deps, {count: 1, forestId: forest.id})
    expect(out.kind).toBe('done')
    expect(again.provider.machines.get(`${forest.id}/node-1`)).toMatchObject({cluster: true, ip: before.ip, peers: ['node-2']})
  })

  test('Ctrl-C right after node-1 was given its cluster block, before any new node was started (local): node-1 runs alone again', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 1, provider: 'memory', size: 'x'})
    const report = e.deps.progress.report.bind(e.deps.progress)
    e.deps.progress.report = (m: string) => {
      report(m)
      if (m.includes('joining a cluster')) e.controller.abort()
    }
    const error = await rejection(grow(e.deps, {count: 1, forestId: forest.id}))
    expect(error.kind).toBe('INTERRUPTED')
    expect(e.provider.calls.filter((c) => c.startsWith('reconfigure') || c.startsWith('create node-2'))).toEqual([
      'reconfigure node-1 peers=node-2',
      'reconfigure node-1 peers=',
    ])
    expect([...e.provider.machines.values()].map((m) => [m.id, m.cluster])).toEqual([['node-1', false]])
    expect(stored(e.backend).nodes[forest.id].map((n: any) => n.id)).toEqual(['node-1'])
    expect((await forestStatus(e.deps, forest.id)).health).toBe('healthy')
  })

  test('the route credentials cannot be read after the claim: the reserved nodes are dropped and the operation cleared', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    e.backend.secrets.get = async () => {
      throw new Error('secrets: connection reset')
    }
    const error = await rejection(grow(e.deps, {count: 1, forestId: forest.id}))
    expect(error.message).toContain('connection reset')
    const doc = stored(e.backend)
    expect(doc.forests[forest.id]).toMatchObject({node_count: 3, operation: null, status: 'active'})
    expect(doc.nodes[forest.id].map((n: any) => n.id)).toEqual(['node-1', 'node-2', 'node-3'])
    expect(e.provider.machines.size).toBe(3)
  })

  test('the guard runs inside the claim: a refusal writes nothing and creates nothing', async () => {
    const e = engine()
    const {forest} = await plant(e.deps, {nodes: 3, provider: 'memory', size: 'x'})
    const writes = e.backend.counts.writes
    const result = await grow(e.deps, {count: 1, forestId: forest.id, guard: (f) => (f.last_expansion === null ? 'cooldown' : undefined)})
    expect(result).toEqual({kind: 'refused', reason: 'cooldown'})
    expect(e.backend.counts.writes).toBe(writes)
    expect(e.provider.machines.size).toBe(3)
  })

  test('two devices growing at once: the second claim sees the first (operation or guard) and adds nothing', async () => {
    const backend = new MemoryRegistry()
    const a = engine({backend, provider: {createDelayMs: 20}})
    const {forest} = await plant(a.deps, {nodes: 3, provider: 'memory', size: 'x'})
    const b = engine({backend})
    b.provider.machines.clear()
    for (const [k, m] of a.provider.machines) b.provider.machines.set(k, m)
    const guard = (f: {last_expansion: string | null}) => (f.last_expansion ? 'cooldown' : undefined)
    const results = await Promise.allSettled([
      grow(a.deps, {count: 1, forestId: forest.id, guard}),
      grow(b.deps, {count: 1, forestId: forest.id, guard}),
    ])
    const added = results.filter((r) => r.status === 'fulfilled' && r.value.kind === 'done')
    expect(added).toHaveLength(1)
    expect(stored(backend).nodes[forest.id]).toHaveLength(4)
  })

  test('only an active forest grows; a stale plant says how to finish it', async () => {
    const e = engine()
    const planting = await Plant.prepare(e.deps, {nodes: 1, provider: 'memory', size: 'x'})
    await planting.claim()
    // Another process of this device that died mid-plant.
    await e.deps.store.update(
      (d) =>
        void (d.forests[planting.forest!.id].operation = {
          device: 'device-a',
          kind: 'plant',
          pid: 2 ** 22 + 12345,
          started_at: new Date().toISOString(),
        }),
      {now: true},
    )
    const error = await rejection(Growth.prepare(e.deps, {count: 1, forestId: planting.forest!.id}))
    expect(error.message).toMatch(/is planting; only an active forest can grow/)
    expect(error.hint).toMatch(/was stopped before it finished.*teardown/)
  })
})

describe('the registry store', () => {
  test('updates arriving while a write is in flight go into the next write together', async () => {
    const backend = new MemoryRegistry()
    backend.latencyMs = 20
    const store = new RegistryStore(backend)
    await store.update(
      (d) =>
        void (d.forests.a = {
          created_at: new Date().toISOString(),
          id: 'a',
          last_expansion: null,
          node_count: 0,
          provider: 'p',
          size: 's',
          status: 'active',
        }),
      {now: true},
    )
    const writes = backend.counts.writes
    await Promise.all(
      Array.from({length: 10}, (_, i) => store.update((d) => void (d.forests.a.node_count = Math.max(d.forests.a.node_count, i + 1)))),
    )
    expect(backend.counts.writes - writes).toBeLessThanOrEqual(2)
    expect(stored(backend).forests.a.node_count).toBe(10)
    expect(backend.counts.reads).toBe(1)
  })

  test('transient errors are retried (bounded); other errors are not', async () => {
    const flaky = new MemoryRegistry()
    flaky.failNext('write', {code: 'UNREACHABLE', message: '502 Bad Gateway', transient: true}, 2)
    const store = new RegistryStore(flaky, {transientBaseMs: 1})
    await store.update(() => true, {now: true})
    expect(store.stats.retries).toBe(2)
    expect(flaky.counts.writes).toBe(3)

    const down = new MemoryRegistry()
    down.failNext('write', {code: 'UNREACHABLE', message: '503 Service Unavailable', transient: true}, 10)
    const bounded = new RegistryStore(down, {transientBaseMs: 1, transientTries: 4})
    const e1 = await rejection(bounded.update(() => true, {now: true}))
    expect(e1).toMatchObject({kind: 'REGISTRY'})
    expect(e1.message).toMatch(/503 Service Unavailable/)
    expect(down.counts.writes).toBe(4)

    const refused = new MemoryRegistry()
    refused.failNext('write', {code: 'AUTH', message: '401 Unauthorized'})
    const once = new RegistryStore(refused, {transientBaseMs: 1})
    const e2 = await rejection(once.update(() => true, {now: true}))
    expect(e2).toMatchObject({kind: 'REGISTRY'})
    expect(once.stats.retries).toBe(0)
    expect(refused.counts.writes).toBe(1)
  })

  test("a backend whose probe says 'none' is not written unless unsafe, naming the reason", async () => {
    const backend = new MemoryRegistry()
    backend.concurrency = 'none'
    const e = await rejection(new RegistryStore(backend).update(() => true, {now: true}))
    expect(e.message).toMatch(/refusing to write the registry at memory:\/\/registry: it cannot make concurrent writes safe .*memory: none/)
    expect(e.hint).toMatch(/--unsafe/)
    expect(backend.counts.writes).toBe(0)
    const warnings: string[] = []
    await new RegistryStore(backend, {log: {debug() {}, warn: (m) => warnings.push(m)}, unsafe: true}).update(() => true, {now: true})
    expect(backend.counts.writes).toBe(1)
    expect(warnings.join()).toMatch(/writing anyway \(--unsafe\)/)
  })

  test('a mutation that throws fails alone; the others of the batch are written', async () => {
    const backend = new MemoryRegistry()
    const store = new RegistryStore(backend, {minIntervalMs: 50})
    await store.update(() => true, {now: true})
    const good = store.update(
      (d) =>
        void (d.forests.g = {
          created_at: new Date().toISOString(),
          id: 'g',
          last_expansion: null,
          node_count: 1,
          provider: 'p',
          size: 's',
          status: 'active',
        }),
    )
    const bad = store.update((d) => {
      d.forests.b = {} as never
      throw new Error('nope')
    })
    await expect(bad).rejects.toThrow('nope')
    await good
    expect(Object.keys(stored(backend).forests)).toEqual(['g'])
  })
})
