import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {FileRegistry} from '../../../plugins/registry-none/src/file-registry.js'
import {MorpheusError} from '../../../src/errors.js'
import type {RegistryBackend, RegistryDocument, WriteCondition} from '../../../src/plugin-api/index.js'
import {emptyDocument, serializeDocument} from '../../../src/registry/document.js'
import {readRegistry, UNCHANGED, updateRegistry} from '../../../src/registry/update.js'
import {pluginContext, rejection} from '../../helpers/unit.js'

const ROOT = fileURLToPath(new URL('../../..', import.meta.url))

/** The real file backend, recording every write's condition, optionally failing the first k writes with CONFLICT. */
class Recorder implements RegistryBackend {
  readonly conditions: WriteCondition[] = []
  failures = 0
  constructor(
    readonly inner: FileRegistry,
    private failFirst = 0,
    private failCode = 'CONFLICT',
  ) {}
  get location() {
    return this.inner.location
  }
  probe() {
    return this.inner.probe()
  }
  read() {
    return this.inner.read()
  }
  async write(body: string, condition: WriteCondition) {
    this.conditions.push(condition)
    if (this.failures < this.failFirst) {
      this.failures++
      throw Object.assign(new Error(`simulated ${this.failCode}`), {code: this.failCode, hint: 'simulated hint'})
    }
    return this.inner.write(body, condition)
  }
}

function forest(id: string, nodeCount = 0) {
  return {
    created_at: new Date().toISOString(),
    id,
    last_expansion: null,
    node_count: nodeCount,
    provider: 'local',
    size: 'small',
    status: 'active' as const,
  }
}

const increment = (doc: RegistryDocument) => {
  doc.forests['forest-1'].node_count += 1
  return doc.forests['forest-1'].node_count
}

let dir: string
let path: string
let backend: FileRegistry

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'morpheus-update-'))
  path = join(dir, 'registry.json')
  backend = new FileRegistry(path, pluginContext(), 2000)
})
afterEach(() => rmSync(dir, {force: true, recursive: true}))

describe('updateRegistry on the file backend', () => {
  test('the first write is conditional on absence, later ones on the revision read', async () => {
    const rec = new Recorder(backend)
    const first = await updateRegistry(rec, (doc) => {
      doc.forests['forest-1'] = forest('forest-1')
      return 'made'
    })
    expect(first.result).toBe('made')
    expect(rec.conditions).toEqual([{ifAbsent: true}])
    const revisionBefore = (await backend.read())!.revision
    const second = await updateRegistry(rec, increment)
    expect(second.result).toBe(1)
    expect(rec.conditions[1]).toEqual({ifRevision: revisionBefore})
    const stored = JSON.parse(readFileSync(path, 'utf8'))
    expect(stored.forests['forest-1'].node_count).toBe(1)
    expect(stored.version).toBe(1)
    expect(statSync(path).mode & 0o777).toBe(0o600)
  })

  test('updated_at is refreshed on every write', async () => {
    writeFileSync(path, serializeDocument({...emptyDocument(new Date('2000-01-01T00:00:00Z')), forests: {'forest-1': forest('forest-1')}}))
    const {doc} = await updateRegistry(backend, increment)
    expect(Date.parse(doc.updated_at)).toBeGreaterThan(Date.parse('2020-01-01'))
    expect(JSON.parse(readFileSync(path, 'utf8')).updated_at).toBe(doc.updated_at)
  })

  test('UNCHANGED skips the write (no file is created, an existing one keeps its bytes and inode)', async () => {
    const rec = new Recorder(backend)
    const none = await updateRegistry(rec, () => UNCHANGED)
    expect(none.result).toBeUndefined()
    expect(none.doc.forests).toEqual({})
    expect(existsSync(path)).toBe(false)
    await updateRegistry(rec, (doc) => void (doc.forests['forest-1'] = forest('forest-1')))
    const bytes = readFileSync(path)
    const ino = statSync(path).ino
    const writes = rec.conditions.length
    await updateRegistry(rec, () => UNCHANGED)
    expect(rec.conditions.length).toBe(writes)
    expect(readFileSync(path).equals(bytes)).toBe(true)
    expect(statSync(path).ino).toBe(ino)
  })

  test('a corrupt file, or one of a newer version, is never overwritten', async () => {
    for (const body of [
      '{"version": 1, "forests": {',
      JSON.stringify({forests: {}, nodes: {}, updated_at: 'x', version: 0}),
      JSON.stringify({forests: {}, nodes: {}, updated_at: 'x', version: 9}),
    ]) {
      writeFileSync(path, body)
      const rec = new Recorder(backend)
      let mutated = false
      const e = await rejection(
        updateRegistry(rec, (doc) => {
          mutated = true
          doc.forests = {}
        }),
      )
      expect(e).toBeInstanceOf(MorpheusError)
      expect(e.kind).toBe('REGISTRY')
      expect(e.message).toContain(
        body.includes('"version":9') ? `the registry at ${path} was written by a newer Morpheus` : `the registry at ${path} is corrupt`,
      )
      expect(mutated).toBe(false)
      expect(rec.conditions).toEqual([])
      expect(readFileSync(path, 'utf8')).toBe(body)
    }
  })

  test('a write that loses a real race is retried on the fresh document', async () => {
    writeFileSync(path, serializeDocument({...emptyDocument(), forests: {'forest-1': forest('forest-1')}}))
    let calls = 0
    const {result} = await updateRegistry(
      backend,
      async (doc) => {
        calls++
        if (calls === 1) {
          // Someone else writes between our read and our write.
          const current = (await backend.read())!
          const theirs = JSON.parse(current.body) as RegistryDocument
          theirs.forests['forest-2'] = forest('forest-2', 7)
          await backend.write(serializeDocument(theirs), {ifRevision: current.revision})
        }
        return increment(doc)
      },
      {baseDelayMs: 1},
    )
    expect(calls).toBe(2)
    expect(result).toBe(1)
    const stored = JSON.parse(readFileSync(path, 'utf8'))
    expect(stored.forests['forest-2'].node_count).toBe(7)
    expect(stored.forests['forest-1'].node_count).toBe(1)
  })

  test('two creators of a missing file in one process: one loses ifAbsent, retries, and both count', async () => {
    const create = (doc: RegistryDocument) => {
      doc.forests['forest-1'] ??= forest('forest-1')
      return increment(doc)
    }
    const results = await Promise.all([
      updateRegistry(backend, create, {baseDelayMs: 1}),
      updateRegistry(backend, create, {baseDelayMs: 1}),
    ])
    expect(results.map((r) => r.result).sort()).toEqual([1, 2])
    expect(JSON.parse(readFileSync(path, 'utf8')).forests['forest-1'].node_count).toBe(2)
  })

  test('CONFLICT on the first k writes is retried, with backoff reported', async () => {
    writeFileSync(path, serializeDocument({...emptyDocument(), forests: {'forest-1': forest('forest-1')}}))
    const rec = new Recorder(backend, 3)
    const retries: Array<[number, number]> = []
    let calls = 0
    const {result} = await updateRegistry(
      rec,
      (doc) => {
        calls++
        return increment(doc)
      },
      {attempts: 4, baseDelayMs: 2, maxDelayMs: 5, onRetry: (a, d) => retries.push([a, d])},
    )
    expect(result).toBe(1)
    expect(calls).toBe(4)
    expect(rec.conditions).toHaveLength(4)
    expect(retries.map(([a]) => a)).toEqual([1, 2, 3])
    for (const [a, d] of retries) {
      expect(d).toBeGreaterThanOrEqual(0)
      expect(d).toBeLessThanOrEqual(Math.min(5, 2 * 2 ** (a - 1)))
    }
    expect(JSON.parse(readFileSync(path, 'utf8')).forests['forest-1'].node_count).toBe(1)
  })

  test('it gives up after `attempts` conflicts with a REGISTRY error, leaving the file as it was', async () => {
    const body = serializeDocument({...emptyDocument(), forests: {'forest-1': forest('forest-1')}})
    writeFileSync(path, body)
    const rec = new Recorder(backend, 3)
    const e = await rejection(updateRegistry(rec, increment, {attempts: 3, baseDelayMs: 1}))
    expect(e).toBeInstanceOf(MorpheusError)
    expect(e.kind).toBe('REGISTRY')
    expect(e.exitCode).toBe(4)
    expect(e.message).toContain(path)
    expect(e.message).toContain('gave up after 3 conflicting writes')
    expect(rec.conditions).toHaveLength(3)
    expect(readFileSync(path, 'utf8')).toBe(body)
  })

  test('a non-CONFLICT write error is not retried and keeps the plugin hint', async () => {
    const rec = new Recorder(backend, 5, 'UNREACHABLE')
    const e = await rejection(updateRegistry(rec, (doc) => void (doc.forests['forest-1'] = forest('forest-1')), {attempts: 5}))
    expect(e).toBeInstanceOf(MorpheusError)
    expect(e.kind).toBe('REGISTRY')
    expect(e.message).toBe(`registry ${path}: simulated UNREACHABLE`)
    expect(e.hint).toBe('simulated hint')
    expect(rec.conditions).toHaveLength(1)
  })

  test('an error thrown by mutate propagates unchanged and nothing is written', async () => {
    const rec = new Recorder(backend)
    const boom = new Error('boom')
    expect(
      await rejection(
        updateRegistry(rec, () => {
          throw boom
        }),
      ),
    ).toBe(boom)
    expect(rec.conditions).toEqual([])
  })

  test('readRegistry of a missing file is an empty document with no revision', async () => {
    const {doc, revision} = await readRegistry(backend)
    expect(revision).toBeNull()
    expect(doc.forests).toEqual({})
    expect(doc.version).toBe(1)
  })
})

describe('the file lock', () => {
  const lockPath = () => `${path}.lock`

  test('a stale lock whose pid is dead is broken', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!
    expect(() => process.kill(dead, 0)).toThrow()
    writeFileSync(lockPath(), JSON.stringify({host: hostname(), pid: dead, time: new Date().toISOString()}))
    const slow = new FileRegistry(path, pluginContext(), 5000)
    const started = Date.now()
    await updateRegistry(slow, (doc) => void (doc.forests['forest-1'] = forest('forest-1')))
    expect(Date.now() - started).toBeLessThan(2000)
    expect(JSON.parse(readFileSync(path, 'utf8')).forests['forest-1']).toBeDefined()
    expect(existsSync(lockPath())).toBe(false)
  })

  test('a lock of a live process on this host makes a writer wait, then fail with LOCKED; the lock and file stay', async () => {
    // A live holder, its lock deliberately aged past every timeout: a live holder here is never overridden.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('node:fs'); const os = require('node:os');
         fs.writeFileSync(process.argv[1], JSON.stringify({host: os.hostname(), pid: process.pid, time: new Date().toISOString()}), {flag: 'wx'});
         const old = new Date(Date.now() - 3600e3); fs.utimesSync(process.argv[1], old, old);
         setInterval(() => {}, 1000);
         console.log('locked')`,
        lockPath(),
      ],
      {env: {PATH: process.env.PATH}, stdio: ['ignore', 'pipe', 'inherit']},
    )
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.once('data', () => resolve())
        holder.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)))
      })
      const lockBody = readFileSync(lockPath(), 'utf8')
      expect(JSON.parse(lockBody).pid).toBe(holder.pid)
      const waiting = new FileRegistry(path, pluginContext(), 400)
      const started = Date.now()
      const e = await rejection(waiting.write(serializeDocument(emptyDocument()), {ifAbsent: true}))
      const waited = Date.now() - started
      expect(e.code).toBe('LOCKED')
      expect(e.message).toContain(`${lockPath()} is held by another process`)
      expect(e.hint).toContain(`delete ${lockPath()}`)
      expect(waited).toBeGreaterThanOrEqual(400)
      expect(waited).toBeLessThan(3000)
      expect(readFileSync(lockPath(), 'utf8')).toBe(lockBody)
      expect(existsSync(path)).toBe(false)

      // Through the core loop: LOCKED is not retried as a conflict, and the hint survives.
      const started2 = Date.now()
      const e2 = await rejection(updateRegistry(waiting, (doc) => void (doc.forests['forest-1'] = forest('forest-1'))))
      expect(Date.now() - started2).toBeLessThan(3000)
      expect(e2.kind).toBe('REGISTRY')
      expect(e2.hint).toContain(`delete ${lockPath()}`)
    } finally {
      holder.kill()
    }
  })

  test('a lock from another host is broken once it is older than a minute', async () => {
    writeFileSync(lockPath(), JSON.stringify({host: `not-${hostname()}`, pid: 1, time: '2000-01-01T00:00:00Z'}))
    const old = new Date(Date.now() - 61_000)
    utimesSync(lockPath(), old, old)
    const b = new FileRegistry(path, pluginContext(), 1000)
    const started = Date.now()
    await b.write(serializeDocument(emptyDocument()), {ifAbsent: true})
    expect(Date.now() - started).toBeLessThan(900)
    expect(existsSync(lockPath())).toBe(false)
  })

  test('a fresh lock from another host is respected: the writer times out with LOCKED', async () => {
    writeFileSync(lockPath(), JSON.stringify({host: `not-${hostname()}`, pid: 1, time: new Date().toISOString()}))
    const b = new FileRegistry(path, pluginContext(), 300)
    const started = Date.now()
    const e = await rejection(b.write(serializeDocument(emptyDocument()), {ifAbsent: true}))
    expect(e.code).toBe('LOCKED')
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    expect(existsSync(path)).toBe(false)
    expect(existsSync(lockPath())).toBe(true)
  })
})

describe('updateRegistry across OS processes', () => {
  const updateJs = join(ROOT, 'dist', 'registry', 'update.js')
  const fileRegistryJs = join(ROOT, 'plugins', 'registry-none', 'dist', 'file-registry.js')

  test('P processes × M increments at once lose no update', async () => {
    for (const f of [updateJs, fileRegistryJs]) if (!existsSync(f)) throw new Error(`${f} is missing: run \`npm run build\` first`)
    const P = 6
    const M = 25
    writeFileSync(path, serializeDocument({...emptyDocument(), forests: {'forest-1': forest('forest-1')}}))
    const script = join(dir, 'incr.mjs')
    writeFileSync(
      script,
      `const [updateUrl, fileUrl, path, m, startAt] = process.argv.slice(2)
const {updateRegistry} = await import(updateUrl)
const {FileRegistry} = await import(fileUrl)
const {helpers} = await import(new URL('../plugins/helpers.js', updateUrl).href)
const context = {config: {}, configDir: '/', dataDir: '/', error: (code, message, hint) => Object.assign(new Error(message), {code, hint}), helpers, log: {debug() {}, info() {}, warn() {}}}
const backend = new FileRegistry(path, context, 10000)
while (Date.now() < Number(startAt)) {}
let retries = 0
const seen = []
for (let i = 0; i < Number(m); i++) {
  const {result} = await updateRegistry(backend, (doc) => ++doc.forests['forest-1'].node_count, {attempts: 200, baseDelayMs: 2, maxDelayMs: 50, onRetry: () => retries++})
  seen.push(result)
}
console.log(JSON.stringify({retries, seen}))
`,
    )
    const startAt = Date.now() + 1000
    const runs = Array.from({length: P}, () => {
      const child = spawn(
        process.execPath,
        [script, pathToFileURL(updateJs).href, pathToFileURL(fileRegistryJs).href, path, String(M), String(startAt)],
        {
          env: {PATH: process.env.PATH},
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      )
      let out = ''
      let err = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (err += d))
      return new Promise<{retries: number; seen: number[]}>((resolve, reject) =>
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}: ${err}`)))),
      )
    })
    const results = await Promise.all(runs)
    const final = JSON.parse(readFileSync(path, 'utf8'))
    expect(final.forests['forest-1'].node_count).toBe(P * M)
    // Every increment saw a distinct value: 1..P*M exactly once.
    const seen = results.flatMap((r) => r.seen).sort((a, b) => a - b)
    expect(seen).toEqual(Array.from({length: P * M}, (_, i) => i + 1))
    // The processes really did collide (otherwise this test proves nothing).
    expect(results.reduce((n, r) => n + r.retries, 0)).toBeGreaterThan(0)
    expect(existsSync(`${path}.lock`)).toBe(false)
  }, 120_000)
})
