// src/jetstream/api.ts against a real nats-server: a JetStream API request that gets no answer for a
// moment (a timeout, no responders while a leader is elected) is sent again when that is safe, and one
// that never gets an answer ends in a NOT_FORMED error naming the request, not the client's bare "timeout".
import {connect, type NatsConnection} from '@nats-io/transport-node'
import type {ChildProcess} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {api} from '../../../src/jetstream/api.js'
import {MorpheusError} from '../../../src/errors.js'
import {startNats} from '../../helpers/nats.js'
import {rejection} from '../../helpers/unit.js'

const dir = mkdtempSync(join(tmpdir(), 'js-api-'))
let server: ChildProcess
let nc: NatsConnection
let responder: NatsConnection
const PAUSES = [20, 20, 20]

beforeAll(async () => {
  const nats = await startNats('127.0.0.1', dir, 'api')
  server = nats.child
  const {port} = (await (await fetch(`${nats.monitor}/varz`)).json()) as {port: number}
  nc = await connect({servers: `127.0.0.1:${port}`})
  responder = await connect({servers: `127.0.0.1:${port}`})
})
afterAll(async () => {
  await nc?.close()
  await responder?.close()
  server?.kill('SIGKILL')
  rmSync(dir, {force: true, recursive: true})
})

/** A responder on `subject` that leaves the first `silent` requests unanswered; counts what it saw. */
async function answering(subject: string, silent: number, answer: unknown = {ok: 1}): Promise<{seen: number; stop(): void}> {
  const state = {seen: 0, stop: () => sub.unsubscribe()}
  const sub = responder.subscribe(subject, {
    callback: (_err, msg) => {
      state.seen++
      if (state.seen > silent) msg.respond(JSON.stringify(answer))
    },
  })
  await responder.flush()
  return state
}

test('a request left unanswered twice is sent again and gets its answer', async () => {
  const r = await answering('t1.STREAM.INFO.A', 2, {config: {name: 'A'}})
  expect(await api(nc, 't1.STREAM.INFO.A', undefined, 200, PAUSES)).toEqual({config: {name: 'A'}})
  expect(r.seen).toBe(3)
  r.stop()
})

test('no responders at first (nothing listens yet, as while a leader is elected), then an answer', async () => {
  const pending = api(nc, 't2.STREAM.UPDATE.A', {num_replicas: 2}, 200, [300, 300, 300])
  await new Promise((resolve) => setTimeout(resolve, 100))
  const r = await answering('t2.STREAM.UPDATE.A', 0, {done: true})
  expect(await pending).toEqual({done: true})
  expect(r.seen).toBe(1)
  r.stop()
})

test('never answered: NOT_FORMED naming the request and the tries, after every pause', async () => {
  const r = await answering('t3.STREAM.INFO.B', 99)
  const error = await rejection(api(nc, 't3.STREAM.INFO.B', undefined, 100, PAUSES))
  expect(error).toBeInstanceOf(MorpheusError)
  expect({kind: error.kind, message: error.message}).toEqual({
    kind: 'NOT_FORMED',
    message: 'the JetStream API did not answer t3.STREAM.INFO.B (no answer in time, 4 tries)',
  })
  expect(error.hint).toMatch(/morpheus status/)
  expect(r.seen).toBe(4)
  r.stop()
})

test('a delete is never sent twice: its first try may have happened', async () => {
  const r = await answering('t4.STREAM.DELETE.C', 99)
  const error = await rejection(api(nc, 't4.STREAM.DELETE.C', undefined, 100, PAUSES))
  expect({kind: error.kind, message: error.message}).toEqual({
    kind: 'NOT_FORMED',
    message: 'the JetStream API did not answer t4.STREAM.DELETE.C (no answer in time)',
  })
  expect(r.seen).toBe(1)
  r.stop()
})

test("an answer carrying the JetStream API's error is not retried: it is a JetStreamError with the server's codes", async () => {
  const r = await answering('t5.STREAM.INFO.D', 0, {error: {code: 404, description: 'stream not found', err_code: 10059}})
  const error = await rejection(api(nc, 't5.STREAM.INFO.D', undefined, 200, PAUSES))
  expect({code: error.code, errCode: error.errCode, message: error.message, name: error.name}).toEqual({
    code: 404,
    errCode: 10059,
    message: 'stream not found',
    name: 'JetStreamError',
  })
  expect(r.seen).toBe(1)
  r.stop()
})
