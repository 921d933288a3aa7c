import {strict as assert} from 'node:assert'
import {spawn} from 'node:child_process'
import {pathToFileURL} from 'node:url'

import type {RegistryBackend} from '../plugin-api/index.js'
import {emptyDocument, serializeDocument} from '../registry/document.js'
import {RegistryStore} from '../registry/store.js'
import {compiled, runner, same, type TestRunner} from './kit-support.js'

export interface RegistryKitOptions {
  /** Shown in the test names. */
  name: string
  /** A backend on a fresh, empty store (each test gets its own). */
  create(): RegistryBackend | Promise<RegistryBackend>
  /**
   * Called after each test, passed or failed, with the backend that test's create() returned:
   * remove its store (the temporary directory, the bucket prefix, the WebDAV folder).
   */
  cleanup?(backend: RegistryBackend): void | Promise<void>
  /**
   * Adds the test in which several OS processes update one store at once (no update may be lost).
   * Each process is a plain `node` (no TypeScript, no test runner) that imports `module` and calls
   * its `createBackend(argument)`.
   */
  processes?: {
    /**
     * Absolute path or file: URL of an ES module in JavaScript (compiled, if you write TypeScript) exporting
     * `async function createBackend(argument: string): Promise<RegistryBackend>`, which builds a backend on the
     * store that `argument` names, with a context of its own (e.g. `testContext(config)` from morpheus/testing).
     * Its imports resolve from its own location, as in any Node.js module.
     */
    module: string
    /** The string that names the store of a backend create() returned (a path, a URL, a bucket and prefix); passed on the command line, so never a secret. */
    argument(backend: RegistryBackend): string
    /** Processes at once. Default 4. */
    count?: number
    /** Updates per process, one write each. Default 10. */
    increments?: number
  }
  /** What the backend offers besides the basics; the kit checks it offers exactly these, and tests them. */
  features?: {history?: boolean; secrets?: boolean}
  /** Per-test time limit (ms). Default 60000. */
  timeoutMs?: number
  /**
   * The test runner's `describe` and `test`. Leave it out under Jest (or any runner with global
   * `describe`/`test`) and under `node --test` (the kit then uses node:test's).
   */
  runner?: TestRunner
}

async function code(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise
    return undefined
  } catch (error) {
    return (error as {code?: string}).code ?? 'no code'
  }
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], {stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('close', (status) => (status === 0 ? resolve(out) : reject(new Error(`worker exited ${status}: ${err.slice(-2000)}`))))
  })
}

/**
 * The registry conformance kit: what the core relies on from every registry backend. Call it at
 * the top level of a test file; it defines one `describe()` block, under Jest, under `node --test`,
 * or with the runner given in `options.runner`.
 */
export function registryConformance(options: RegistryKitOptions): void {
  const {describe, test} = runner(options.runner)
  const timeout = options.timeoutMs ?? 60_000
  const each = (name: string, fn: (backend: RegistryBackend) => Promise<void>) =>
    test(
      name,
      async () => {
        const backend = await options.create()
        try {
          await fn(backend)
        } finally {
          await options.cleanup?.(backend)
        }
      },
      timeout,
    )

  describe(`registry conformance: ${options.name}`, () => {
    each('a missing document reads as null', async (backend) => {
      assert.equal(await backend.read(), null)
    })

    each('create-if-absent: the first create wins; a second is a CONFLICT and keeps the first body', async (backend) => {
      const first = serializeDocument(emptyDocument(new Date(1000)))
      const {revision} = await backend.write(first, {ifAbsent: true})
      assert.equal(typeof revision, 'string')
      assert.equal(await code(backend.write(serializeDocument(emptyDocument(new Date(2000))), {ifAbsent: true})), 'CONFLICT')
      assert.equal((await backend.read())?.body, first)
    })

    each('a write with a stale revision is a CONFLICT and changes nothing; the current revision works', async (backend) => {
      await backend.write(serializeDocument(emptyDocument(new Date(1000))), {ifAbsent: true})
      const stale = (await backend.read())!
      const second = serializeDocument(emptyDocument(new Date(2000)))
      await backend.write(second, {ifRevision: stale.revision})
      assert.equal(await code(backend.write(serializeDocument(emptyDocument(new Date(3000))), {ifRevision: stale.revision})), 'CONFLICT')
      const now = (await backend.read())!
      assert.equal(now.body, second)
      const third = serializeDocument(emptyDocument(new Date(4000)))
      await backend.write(third, {ifRevision: now.revision})
      assert.equal((await backend.read())?.body, third)
    })

    each('the revision write() returns is good for the next conditional write', async (backend) => {
      const {revision} = await backend.write(serializeDocument(emptyDocument(new Date(1000))), {ifAbsent: true})
      // Some servers only settle their ETag shortly after a write: the store then conflicts once and reads again,
      // which is allowed; a revision that never works is not.
      const store = new RegistryStore(backend, {conflictBaseMs: 50})
      await store.update((d) => void (d.updated_at = 'x'), {now: true})
      assert.ok(
        store.stats.conflicts <= 3,
        `the store conflicted ${store.stats.conflicts} times with itself (revision from write(): ${revision})`,
      )
    })

    each('a corrupt body comes back as it is, and the core never writes over it', async (backend) => {
      const garbage = '{"version": 1, "forests": {"truncated'
      await backend.write(garbage, {ifAbsent: true})
      assert.equal((await backend.read())?.body, garbage)
      const store = new RegistryStore(backend)
      await assert.rejects(
        store.update(() => true, {now: true}),
        /is corrupt: not valid JSON/,
      )
      assert.equal((await backend.read())?.body, garbage)
    })

    each('probe() says how writes are kept safe', async (backend) => {
      const probe = await backend.probe()
      assert.ok(['compare-and-swap', 'lock', 'none'].includes(probe.concurrency), `concurrency: ${probe.concurrency}`)
      assert.ok(Array.isArray(probe.notes) && probe.notes.every((n) => typeof n === 'string'))
      assert.notEqual(probe.concurrency, 'none', `a backend that cannot make writes safe fails the kit: ${probe.notes.join('; ')}`)
    })

    const features = {history: false, secrets: false, ...options.features}
    each(`offers exactly the declared features (history: ${features.history}, secrets: ${features.secrets})`, async (backend) => {
      assert.equal(typeof backend.history === 'function', features.history, 'history()')
      assert.equal(typeof backend.readRevision === 'function', features.history, 'readRevision() comes with history()')
      assert.equal(typeof backend.secrets === 'object' && backend.secrets !== null, features.secrets, 'secrets')
    })

    if (features.history)
      each('history() and readRevision() give earlier bodies, newest first', async (backend) => {
        const bodies = [1000, 2000, 3000].map((t) => serializeDocument(emptyDocument(new Date(t))))
        let revision = (await backend.write(bodies[0], {ifAbsent: true})).revision
        for (const body of bodies.slice(1)) {
          const current = (await backend.read())!
          revision = (await backend.write(body, {ifRevision: current.revision})).revision
        }
        assert.ok(revision)
        const past = await backend.history!(10)
        assert.ok(past.length >= 2, `history kept ${past.length} earlier revision(s) of 2`)
        const older = await Promise.all(past.slice(0, 2).map((p) => backend.readRevision!(p.revision)))
        same(
          older.map((o) => o?.body),
          [bodies[1], bodies[0]],
        )
        assert.ok(past.every((p) => !Number.isNaN(Date.parse(p.modified))))
      })

    if (features.secrets)
      each('secrets: set, get, delete per forest; never in the document', async (backend) => {
        const secrets = backend.secrets!
        await backend.write(serializeDocument(emptyDocument()), {ifAbsent: true})
        const value = `s3cr3t-${Math.random().toString(36).slice(2)}`
        await secrets.set('forest-a', 'cluster_auth', value)
        await secrets.set('forest-b', 'cluster_auth', 'other')
        assert.equal(await secrets.get('forest-a', 'cluster_auth'), value)
        assert.equal(await secrets.get('forest-a', 'missing'), undefined)
        assert.ok(!(await backend.read())!.body.includes(value))
        await secrets.delete('forest-a')
        assert.equal(await secrets.get('forest-a', 'cluster_auth'), undefined)
        assert.equal(await secrets.get('forest-b', 'cluster_auth'), 'other')
      })

    if (options.processes) {
      const spec = options.processes
      each(`${spec.count ?? 4} processes x ${spec.increments ?? 10} updates at once lose none`, async (backend) => {
        const p = spec.count ?? 4
        const m = spec.increments ?? 10
        const worker = compiled('./registry-worker.js', import.meta.url)
        const moduleUrl = spec.module.startsWith('file:') ? spec.module : pathToFileURL(spec.module).href
        const startAt = Date.now() + 500
        const outputs = await Promise.all(
          Array.from({length: p}, (_, i) => run(worker, [moduleUrl, spec.argument(backend), String(i), String(m), String(startAt)])),
        )
        const doc = JSON.parse((await backend.read())!.body)
        const ids = Object.keys(doc.forests).filter((id) => id.startsWith('kit-'))
        assert.equal(ids.length, p * m, `${p * m - ids.length} of ${p * m} updates were lost (workers: ${outputs.join(' ')})`)
      })
    }
  })
}
