// The acked writer is the proof for every live-forest change, so it must itself be able to fail:
// against a real nats-server, a message deleted behind its back is named as missing.
import {jetstreamManager} from '@nats-io/jetstream'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {AckedWriter} from '../../helpers/acked-writer.js'
import {startNats} from '../../helpers/nats.js'

describe('AckedWriter against a real nats-server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'writer-'))
  let server: Awaited<ReturnType<typeof startNats>>
  let client: string

  beforeAll(async () => {
    server = await startNats('127.0.0.1', dir, 'w1')
    const varz = (await (await fetch(`${server.monitor}/varz`)).json()) as {port: number}
    client = `nats://127.0.0.1:${varz.port}`
  })
  afterAll(() => {
    server.child.kill('SIGKILL')
    rmSync(dir, {force: true, recursive: true})
  })

  it('counts acked publishes, finds them all, and names one that was deleted', async () => {
    const writer = await AckedWriter.start({servers: [client], streams: [{name: 'R1', replicas: 1}], intervalMs: 1})
    await writer.waitForAcks(200)
    await writer.stop()
    const clean = await writer.verify()
    expect(clean).toEqual([{stream: 'R1', acked: writer.acked.get('R1')!.length, found: writer.acked.get('R1')!.length, missing: []}])
    expect(clean[0].acked).toBeGreaterThanOrEqual(200)

    const jsm = await jetstreamManager(writer.nc)
    const victim = writer.acked.get('R1')![57]
    // The payload of sequence N is the N-th acked id here (one stream, one writer, no failures).
    expect(writer.errors).toBe(0)
    await jsm.streams.deleteMessage('R1', 58)
    const after = await writer.verify()
    expect(after[0].missing).toEqual([victim])
    await writer.close()
  })

  it('verify() while writing looks only for what was acked before it read; closeAll() stops a writer a failed test left open', async () => {
    const writer = await AckedWriter.start({servers: [client], streams: [{name: 'LEFT', replicas: 1}], intervalMs: 1})
    await writer.waitForAcks(50)
    const [report] = await writer.verify()
    expect(report).toMatchObject({missing: [], stream: 'LEFT'})
    expect(report.acked).toBeGreaterThanOrEqual(50)
    // Left open, as a test that throws before its close() leaves it: its publishes would keep Jest alive.
    await AckedWriter.closeAll()
    expect(writer.nc.isClosed()).toBe(true)
    const count = writer.ackedCount
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(writer.ackedCount).toBe(count)
  })
})
