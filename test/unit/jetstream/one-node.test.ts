// The parts of grow-from-one that a successful grow does not exercise, against a real nats-server:
// the snapshots are 0600 files, node-1's streams are gone from it once saved, and a grow that fails
// after that gives them back (settle), or the next grow does (restorePending), with every message.
import {jetstream, jetstreamManager} from '@nats-io/jetstream'
import {mkdtempSync, readdirSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {MorpheusError} from '../../../src/errors.js'
import type {ForestDeps, ProviderHandle} from '../../../src/forest/deps.js'
import {OneNodeData, restorePending} from '../../../src/forest/one-node.js'
import {connectForest} from '../../../src/jetstream/connect.js'
import {streamInfo} from '../../../src/jetstream/streams.js'
import type {ForestRecord, NodeRecord} from '../../../src/plugin-api/index.js'
import {startCluster, type TestCluster} from '../../helpers/nats-cluster.js'

describe('carrying a one-node forest’s streams: failure paths', () => {
  const dir = mkdtempSync(join(tmpdir(), 'one-node-'))
  let cluster: TestCluster
  let deps: ForestDeps
  let handle: ProviderHandle
  const forest = {id: 'forest-carry', nats_mode: 'system', provider: 'fake'} as ForestRecord
  let node: NodeRecord
  const lines: string[] = []

  beforeAll(async () => {
    cluster = await startCluster(join(dir, 'nats'), 1)
    const [s] = cluster.servers
    node = {created_at: '', forest_id: forest.id, id: 'node-1', ip: s.ip, role: 'edge', status: 'active'}
    deps = {
      jetstream: {connect: connectForest, snapshotDir: join(dir, 'snapshots')},
      progress: {report: (m: string) => void lines.push(m)},
      // form_timeout_seconds: how long a settle tries to give the streams back.
      settings: {form_timeout_seconds: 2, ports: {client: 4222, cluster: 6222, monitor: 8222}},
      signal: new AbortController().signal,
    } as unknown as ForestDeps
    handle = {
      capabilities: {} as any,
      name: 'fake',
      provider: {
        // A node named `nowhere` has a client URL nothing listens on.
        endpoints: (n: NodeRecord) =>
          n.id === 'nowhere' ? {client: 'nats://127.0.0.1:1', monitor: 'http://127.0.0.1:1'} : {client: s.client, monitor: s.monitor},
        natsMode: 'system',
        reconfigureNode: async () => undefined,
      } as any,
    }
  })
  afterAll(async () => {
    await cluster?.close()
    rmSync(dir, {force: true, recursive: true})
  })

  async function write(name: string, count: number): Promise<void> {
    const nc = await connectForest(cluster.clients)
    await (await jetstreamManager(nc)).streams.add({name, subjects: [`${name}.>`]})
    for (let i = 1; i <= count; i++) await jetstream(nc).publish(`${name}.x`, String(i))
    await nc.close()
  }

  test('saved: node-1 no longer has the stream, the snapshot is a 0600 file; the failed grow restores it with every message and its subjects', async () => {
    await write('EVENTS', 40)
    const carry = (await OneNodeData.check(deps, handle, forest, node)).carry!
    expect(carry).toBeDefined()
    await carry.save()
    const nc = await connectForest(cluster.clients)
    await expect(streamInfo(nc, 'EVENTS')).rejects.toThrow(/stream not found/)
    const kept = join(dir, 'snapshots', forest.id)
    expect(statSync(kept).mode & 0o777).toBe(0o700)
    for (const f of readdirSync(kept)) expect(statSync(join(kept, f)).mode & 0o777).toBe(0o600)
    const failure = new MorpheusError('PROVIDER', 'node-2 could not be created')
    const ending = await carry.settle(failure, [node])
    expect(ending).toBe(failure)
    const info = await streamInfo(nc, 'EVENTS')
    expect(info.state.messages).toBe(40)
    expect(info.config.subjects).toEqual(['EVENTS.>'])
    expect(() => readdirSync(kept)).toThrow()
    await jetstream(nc).publish('EVENTS.x', '41')
    expect((await streamInfo(nc, 'EVENTS')).state.messages).toBe(41)
    await (await jetstreamManager(nc)).streams.delete('EVENTS')
    await nc.close()
  }, 60_000)

  test('when even that fails, the error names the kept snapshots and the next grow restores them (restorePending)', async () => {
    await write('ORDERS', 25)
    const carry = (await OneNodeData.check(deps, handle, forest, node)).carry!
    await carry.save()
    const failure = new MorpheusError('NOT_FORMED', 'the forest did not form')
    // Nowhere to restore to: a client URL nothing listens on.
    const ending = await carry.settle(failure, [{...node, id: 'nowhere'}])
    expect(ending.kind).toBe('NOT_FORMED')
    expect(ending.message).toContain(join(dir, 'snapshots', forest.id))
    expect(ending.hint).toContain('morpheus grow forest-carry')
    expect(await restorePending(deps, handle, forest, [node])).toBe(1)
    const nc = await connectForest(cluster.clients)
    expect((await streamInfo(nc, 'ORDERS')).state.messages).toBe(25)
    await nc.close()
    expect(await restorePending(deps, handle, forest, [node])).toBe(0)
  }, 120_000)

  test('kept snapshots go back into node-1 before the next grow carries: carried with the streams written since, none lost', async () => {
    await write('KEPT', 12)
    const first = (await OneNodeData.check(deps, handle, forest, node)).carry!
    await first.save()
    const ending = await first.settle(new MorpheusError('INTERRUPTED', 'interrupted'), [{...node, id: 'nowhere'}])
    expect(ending.message).toContain('streams are kept in')
    // node-1 runs on without KEPT; a stream is written meanwhile.
    await write('SINCE', 5)
    const second = (await OneNodeData.check(deps, handle, forest, node)).carry!
    lines.length = 0
    await second.save()
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/restoring \d streams? an earlier grow kept/),
        expect.stringMatching(/KEPT: snapshot of 12 messages/),
        expect.stringMatching(/SINCE: snapshot of 5 messages/),
      ]),
    )
    await second.restore([node])
    const nc = await connectForest(cluster.clients)
    expect([(await streamInfo(nc, 'KEPT')).state.messages, (await streamInfo(nc, 'SINCE')).state.messages]).toEqual([12, 5])
    expect((await streamInfo(nc, 'KEPT')).config.subjects).toEqual(['KEPT.>'])
    // (ORDERS, given back by the test above, was carried along.)
    for (const name of ['KEPT', 'SINCE', 'ORDERS']) await (await jetstreamManager(nc)).streams.delete(name).catch(() => undefined)
    await nc.close()
    expect(await restorePending(deps, handle, forest, [node])).toBe(0)
  }, 120_000)
})
