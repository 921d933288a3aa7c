// Upgrade on a cloud provider moves R1 streams off each node before its machine is replaced: proven on real
// nats-server. A cloud node comes back with an empty disk; no cloud runs here, so the provider is the local one
// with that one difference made real (NewDisk below: the node's JetStream directory is deleted between its lame
// duck stop and its start, as a new server's disk is empty) and the cloud capability. The engine runs as a
// command runs it: real monitoring (/healthz, /varz, /jsz), the real JetStream connection, the registry in memory.
// The official client writes to an R3 and an R1 stream all the time (acked publishes); afterwards every acked
// message is there and the R1 stream reads back whole. A control shows the disk really is new: an R1 stream left
// on a node whose machine is replaced loses its messages.
import {jetstream, jetstreamManager} from '@nats-io/jetstream'
import {execFileSync} from 'node:child_process'
import {copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {ReplaceNodeRequest} from 'morpheus/plugin-api'

import {LocalProvider} from '../../../plugins/provider-local/src/local-provider.js'
import type {ForestDeps} from '../../../src/forest/deps.js'
import {loadClusterAuth} from '../../../src/forest/plant.js'
import {loadSystemUser} from '../../../src/forest/system-user.js'
import {upgradeForest} from '../../../src/forest/upgrade.js'
import {connectForest} from '../../../src/jetstream/connect.js'
import {probeAll} from '../../../src/monitor/nats.js'
import {RegistryStore} from '../../../src/registry/store.js'
import {MemoryRegistry} from '../../../src/testing/memory-registry.js'
import {testContext, testTemplates} from '../../../src/testing/index.js'
import {AckedWriter, connectClient, readIds} from '../../helpers/acked-writer.js'
import {plant, stored} from '../../helpers/engine.js'
import {loopbackBase} from '../../helpers/nats-cluster.js'

/** The local provider, but a replaced node starts on an empty disk, as a new cloud server does. */
class NewDisk extends LocalProvider {
  readonly wiped: string[] = []
  async replaceNode(request: ReplaceNodeRequest) {
    // Lame duck, as the cloud's shutdown does (the local provider's own stop), then a new, empty disk.
    await this.stopNode(request.node, request.forest, request.signal)
    const dir = request.node.provider_ref!
    rmSync(join(dir, 'jetstream'), {force: true, recursive: true})
    this.wiped.push(request.node.id)
    return super.replaceNode(request)
  }
}

describe('upgrade on a cloud provider moves R1 streams off each node first (real nats-server)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'upgrade-move-'))
  let provider: NewDisk
  let deps: ForestDeps
  let backend: MemoryRegistry
  let forestId = ''
  let clients: string[] = []
  const lines: string[] = []

  beforeAll(async () => {
    const context = testContext(
      {
        data_dir: join(dir, 'local'),
        first_address: `${loopbackBase()}.1`,
        nats_server: 'nats-server',
        nimsforest_binary: '',
        start_timeout_seconds: 20,
        stop_timeout_seconds: 5,
      },
      {resolvePath: (v) => v, templates: await testTemplates()},
    )
    provider = new NewDisk(context)
    backend = new MemoryRegistry()
    deps = {
      device: 'device-a',
      jetstream: {connect: connectForest, snapshotDir: join(dir, 'snapshots')},
      log: {debug() {}, info() {}, warn: (m) => void lines.push(`warn: ${m}`)},
      monitor: (urls, timeoutMs) => probeAll(urls, timeoutMs),
      pollMs: 250,
      progress: {report: (m) => void lines.push(m)},
      provider: async () => ({
        capabilities: {cloud: true, machineLocal: false, maxParallel: 3, natsModes: ['system']},
        name: 'newdisk',
        provider,
      }),
      secrets: backend.secrets,
      settings: {
        form_timeout_seconds: 60,
        nats_mode: 'system',
        parallel: 3,
        ports: {client: 4222, cluster: 6222, monitor: 8222},
        sizes: {medium: 3},
      },
      signal: new AbortController().signal,
      store: new RegistryStore(backend),
    }
    const planted = await plant(deps, {nodes: 3, provider: 'newdisk', size: 'medium'})
    forestId = planted.forest.id
    clients = planted.nodes.map((n) => n.client)
  }, 120_000)

  afterAll(async () => {
    const nodes = stored(backend)?.nodes?.[forestId] ?? []
    const forest = stored(backend)?.forests?.[forestId]
    for (const n of nodes) await provider.destroyNode(n, forest).catch(() => undefined)
    rmSync(dir, {force: true, recursive: true})
  })

  test('every node upgraded under acked writes: the R1 stream moved off its node before each replacement; no acked message lost; the R1 stream reads back whole', async () => {
    // The target: another nats-server binary (a copy), which the local provider resolves by its path.
    const bin = join(dir, 'bin')
    mkdirSync(bin)
    const next = join(bin, 'nats-server-next')
    copyFileSync(execFileSync('sh', ['-c', 'command -v nats-server'], {encoding: 'utf8'}).trim(), next)
    const writer = await AckedWriter.start({
      intervalMs: 10,
      servers: clients,
      streams: [
        {name: 'R3', replicas: 3},
        {name: 'R1', replicas: 1},
      ],
    })
    try {
      await writer.waitForAcks(100)
      // A marker on every node's disk: gone afterwards, so each machine did start empty.
      for (const n of stored(backend).nodes[forestId]) writeFileSync(join(n.provider_ref, 'jetstream', 'old-disk'), '')
      const nc = await connectClient(clients)
      const before = (await (await jetstreamManager(nc)).streams.info('R1')).cluster!.leader!
      await nc.close()

      const result = await upgradeForest(deps, {forestId, streamsTimeoutSeconds: 120, wanted: {nats: next}})
      expect(result.status).toBe('upgraded')
      expect([...result.upgraded].sort()).toEqual(['node-1', 'node-2', 'node-3'])
      expect(provider.wiped.sort()).toEqual(['node-1', 'node-2', 'node-3'])
      for (const n of stored(backend).nodes[forestId]) expect(existsSync(join(n.provider_ref, 'jetstream', 'old-disk'))).toBe(false)
      // The R1 stream left every node it was on before that node was replaced: first the node it started on.
      expect(result.moved.length).toBeGreaterThanOrEqual(1)
      expect(result.moved[0]).toMatchObject({from: before, stream: 'R1'})
      for (const m of result.moved) expect(m.to).not.toBe(m.from)
      expect(result.message).toContain('moved')
      expect(stored(backend).forests[forestId]).toMatchObject({operation: null, versions: {nats_source: next}})

      await writer.waitForAcks(50, 60_000)
      await writer.stop()
      const report = await writer.verify()
      expect(report.map((r) => [r.stream, r.missing])).toEqual([
        ['R3', []],
        ['R1', []],
      ])
      expect(report.every((r) => r.acked >= 100)).toBe(true)
      // Still R1, on one node, with every message it acked.
      const check = await connectClient(clients)
      const info = await (await jetstreamManager(check)).streams.info('R1')
      expect(info.config.num_replicas).toBe(1)
      expect(info.state.messages).toBe(report.find((r) => r.stream === 'R1')!.found)
      await check.close()
    } finally {
      await writer.close()
    }
  }, 300_000)

  test('control: an R1 stream left on a node whose machine is replaced (the provider alone, no move) loses its messages', async () => {
    const nodes = stored(backend).nodes[forestId]
    const forest = stored(backend).forests[forestId]
    const nc = await connectClient(clients)
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({name: 'CONTROL', num_replicas: 1, subjects: ['control.>']})
    for (let i = 1; i <= 20; i++) await jetstream(nc).publish('control.x', String(i))
    const holder = (await jsm.streams.info('CONTROL')).cluster!.leader!
    const node = nodes.find((n: any) => n.id === holder)
    await nc.close()
    // As the engine calls it: the forest's route credentials and system-account user, its recorded versions.
    await provider.replaceNode({
      cluster: true,
      clusterAuth: await loadClusterAuth(backend.secrets, forestId),
      systemUser: await loadSystemUser(backend.secrets, forestId),
      versions: forest.versions,
      forest,
      graceful: true,
      natsMode: 'system',
      node,
      peers: nodes.filter((n: any) => n.id !== holder),
      ports: deps.settings.ports,
      progress: () => undefined,
      signal: new AbortController().signal,
    })
    const after = await connectClient(clients)
    let messages: number | undefined
    for (let i = 0; i < 40 && messages === undefined; i++) {
      try {
        messages = (await (await jetstreamManager(after)).streams.info('CONTROL')).state.messages
      } catch {
        await new Promise((r) => setTimeout(r, 500)) // the stream's one server is just back
      }
    }
    // It answers again, on its node's new, empty disk: the 20 messages are gone.
    expect(messages).toBe(0)
    expect(await readIds(after, 'CONTROL')).toEqual(new Set())
    await after.close()
  }, 120_000)
})
