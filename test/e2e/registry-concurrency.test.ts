import {spawn} from 'node:child_process'
import {join} from 'node:path'

import {collect, ROOT} from '../helpers/cli.js'
import type {ApacheServer} from '../fixtures/webdav/apache.js'
import {WEBDAV_SERVERS} from '../fixtures/webdav/servers.js'

// 10 separate processes x 10 updates each, through the core's read-modify-write loop (built dist/)
// and the storagebox backend, against each real WebDAV server (Apache mod_dav, nginx dav-ext): every
// one of the 100 updates is there. The document does not exist at the start: the ten race to create it.
describe.each(WEBDAV_SERVERS)('on $name', (kind) => {
  let apache: ApacheServer
  beforeAll(async () => {
    apache = await kind.start({folder: 'morpheus'})
  })
  afterAll(() => apache?.stop())

  test('10 processes x 10 updates: all 100 present, no truncated or lost write', async () => {
    const url = `${apache.url}registry.json`
    const worker = join(ROOT, 'test', 'fixtures', 'webdav', 'update-worker.js')
    const children = Array.from({length: 10}, (_, i) =>
      spawn(process.execPath, [worker, url, String(i), '10'], {
        env: {MORPHEUS_DAV_PASSWORD: apache.password, MORPHEUS_DAV_USER: apache.username, PATH: process.env.PATH},
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    )
    const results = await Promise.all(children.map((c) => collect(c, 280_000)))
    for (const r of results) {
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
    }
    const reports = results.map((r) => JSON.parse(r.stdout))
    expect(reports.map((r) => r.committed)).toEqual(Array(10).fill(10))
    const response = await fetch(url, {
      headers: {authorization: `Basic ${Buffer.from(`${apache.username}:${apache.password}`).toString('base64')}`},
    })
    const doc = JSON.parse(await response.text())
    const expected = Array.from({length: 100}, (_, k) => `forest-w${Math.floor(k / 10)}-u${k % 10}`).sort()
    expect(Object.keys(doc.forests).sort()).toEqual(expected)
    // The writers raced: some writes had to be retried, and none of them was lost.
    expect(reports.reduce((n, r) => n + r.conflicts, 0)).toBeGreaterThan(0)
  }, 300_000)
})
