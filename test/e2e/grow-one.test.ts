// Growing a one-node forest keeps its JetStream data (issue 17, item 1), proven through the built CLI
// on a local forest of real nats-server with the official client writing all the time: every acked
// message of the R1 stream written on node-1 is readable from the cluster afterwards, and the durable
// consumer keeps its position. Where the data could not be kept, grow refuses before it touches anything.
import {jetstream, jetstreamManager} from '@nats-io/jetstream'
import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {AckedWriter, connectClient} from '../helpers/acked-writer.js'
import {ROOT, Sandbox, nodeProcesses} from '../helpers/cli.js'

describe('grow of a one-node forest keeps its JetStream data', () => {
  let sb: Sandbox
  beforeAll(() => {
    sb = new Sandbox()
  })
  afterAll(async () => sb.cleanup())

  test('plant small, write an R1 stream all the time, grow: no acked message is lost, the consumer keeps its place, the forest ends healthy', async () => {
    const planted = await sb.json(['plant', 'local', 'small'])
    const id = planted.forest.id
    const node1 = planted.nodes[0]
    const writer = await AckedWriter.start({intervalMs: 10, servers: [node1.client], streams: [{name: 'ORDERS', replicas: 1}]})
    try {
      await writer.waitForAcks(150)
      const jsm = await jetstreamManager(writer.nc)
      await jsm.consumers.add('ORDERS', {ack_policy: 'explicit' as any, durable_name: 'billing'})
      const consumer = await jetstream(writer.nc).consumers.get('ORDERS', 'billing')
      for (let i = 0; i < 20; i++) await (await consumer.next({expires: 2000}))!.ackAck()

      const grown = await sb.run(['grow', id, '--yes', '--threshold', '0', '--json'], {timeoutMs: 180_000})
      expect(grown.code).toBe(0)
      const out = JSON.parse(grown.stdout)
      expect(out).toMatchObject({action: {node_id: 'node-2'}, status: 'expanded'})
      // Writes go on after the grow (they paused while the stream was carried over).
      await writer.waitForAcks(100, 60_000)
      await writer.stop()
      const clients = sb.registry().nodes[id].map((n: any) => `nats://${n.ip}:4222`)
      expect(clients).toHaveLength(2)
      const report = await writer.verify(clients)
      expect(report).toEqual([expect.objectContaining({missing: [], stream: 'ORDERS'})])
      expect(report[0].acked).toBeGreaterThanOrEqual(250)

      // The stream lives in the cluster's meta group now (not only on node-1's disk), with its subjects back.
      const nc = await connectClient(clients)
      const info = await (await jetstreamManager(nc)).streams.info('ORDERS')
      expect(info.cluster?.leader).toMatch(/^node-[12]$/)
      expect(info.config.subjects).toEqual(['ORDERS.data'])
      const billing = await (await jetstreamManager(nc)).consumers.info('ORDERS', 'billing')
      expect(billing.ack_floor.stream_seq).toBeGreaterThanOrEqual(20)
      await nc.close()
      expect(await sb.settled(id)).toEqual({health: 'healthy', problems: []})
      // The snapshots were removed once restored; the files that held them were 0600 in a 0700 directory.
      const snapshots = join(sb.env.MORPHEUS_DATA_DIR!, 'snapshots', id)
      expect(existsSync(snapshots)).toBe(false)
    } finally {
      await writer.close()
    }
    await sb.json(['teardown', id, '--yes'])
  }, 300_000)

  test('an embedded-mode (NimsForest) forest of one node: grow refuses with exit 5 and says why; nothing is created', async () => {
    const other = new Sandbox()
    try {
      other.writeConfig(
        `providers:\n  local:\n    first_address: ${other.firstAddress}\n    nimsforest_binary: ${join(ROOT, 'test', 'fixtures', 'nimsforest', 'forest')}\n`,
      )
      const planted = await other.json(['plant', 'local', 'small'])
      const id = planted.forest.id
      const processes = nodeProcesses(`${other.dir}/local/${id}/`)
      expect(processes.length).toBeGreaterThan(0)
      const r = await other.run(['grow', id, '--yes', '--threshold', '0', '--json'], {timeoutMs: 120_000})
      expect(r.code).toBe(5)
      const out = JSON.parse(r.stdout)
      expect(out.ok).toBe(false)
      expect(out.error.message).toMatch(/JetStream data could not be kept.*embedded/)
      expect(out.error.message).toContain('nothing was changed')
      const doc = other.registry()
      expect(doc.nodes[id].map((n: any) => n.id)).toEqual(['node-1'])
      expect(doc.forests[id]).toMatchObject({last_expansion: null, node_count: 1, operation: null})
      expect(nodeProcesses(`${other.dir}/local/${id}/`)).toEqual(processes)
      await other.json(['teardown', id, '--yes'])
    } finally {
      await other.cleanup()
    }
  }, 180_000)
})
