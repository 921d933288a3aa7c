import {setTimeout as sleep} from 'node:timers/promises'

import type {RegistryDocument} from '../../../src/plugin-api/index.js'
import {emptyDocument} from '../../../src/registry/document.js'
import {mapLimit, newForestId, nextNodeIds} from '../../../src/forest/util.js'
import {sleep as abortableSleep} from '../../../src/plugins/helpers.js'

describe('mapLimit', () => {
  test('never runs more than `limit` at once, and keeps the input order', async () => {
    let running = 0
    let peak = 0
    const items = Array.from({length: 12}, (_, i) => i)
    const results = await mapLimit(items, 3, async (item, index) => {
      expect(index).toBe(item)
      running++
      peak = Math.max(peak, running)
      // later items finish first, so completion order differs from input order
      await sleep(5 + (12 - item) * 2)
      running--
      return item * 10
    })
    expect(peak).toBe(3)
    expect(results).toEqual(items.map((i) => ({status: 'fulfilled', value: i * 10})))
  })

  test('uses the whole limit when there is work for it', async () => {
    let running = 0
    let peak = 0
    await mapLimit(
      Array.from({length: 5}, (_, i) => i),
      10,
      async () => {
        running++
        peak = Math.max(peak, running)
        await sleep(10)
        running--
      },
    )
    expect(peak).toBe(5)
  })

  test('captures rejections in place and keeps going', async () => {
    const boom = new Error('boom')
    const results = await mapLimit([1, 2, 3, 4], 2, async (n) => {
      if (n % 2 === 0) throw boom
      return n
    })
    expect(results).toEqual([
      {status: 'fulfilled', value: 1},
      {reason: boom, status: 'rejected'},
      {status: 'fulfilled', value: 3},
      {reason: boom, status: 'rejected'},
    ])
  })

  test('a synchronous throw is captured too; empty input and limit 0 work', async () => {
    const results = await mapLimit([1], 1, ((): Promise<number> => {
      throw new Error('sync')
    }) as any)
    expect(results[0].status).toBe('rejected')
    expect(await mapLimit([], 4, async () => 1)).toEqual([])
    expect(await mapLimit([1, 2], 0, async (n) => n)).toEqual([
      {status: 'fulfilled', value: 1},
      {status: 'fulfilled', value: 2},
    ])
  })
})

describe('newForestId', () => {
  const now = new Date('2024-03-01T12:00:00.900Z')
  const withIds = (...ids: string[]): RegistryDocument => {
    const doc = emptyDocument()
    for (const id of ids)
      doc.forests[id] = {
        created_at: now.toISOString(),
        id,
        last_expansion: null,
        node_count: 1,
        provider: 'local',
        size: 'small',
        status: 'active',
      }
    return doc
  }

  test('forest-<unix seconds>', () => {
    expect(newForestId(emptyDocument(), now)).toBe(`forest-${Math.floor(now.getTime() / 1000)}`)
    expect(newForestId(emptyDocument(), now)).toBe('forest-1709294400')
  })

  test('unique against the document', () => {
    expect(newForestId(withIds('forest-1709294400'), now)).toBe('forest-1709294400-2')
    expect(newForestId(withIds('forest-1709294400', 'forest-1709294400-2', 'forest-1709294400-3'), now)).toBe('forest-1709294400-4')
    expect(newForestId(withIds('forest-1709294400', 'forest-1709294400-3'), now)).toBe('forest-1709294400-2')
  })
})

describe('nextNodeIds', () => {
  test('starts at node-1', () => {
    expect(nextNodeIds([], 3)).toEqual(['node-1', 'node-2', 'node-3'])
    expect(nextNodeIds([], 0)).toEqual([])
  })

  test('continues after the highest in use, not after the count', () => {
    expect(nextNodeIds([{id: 'node-1'}, {id: 'node-7'}, {id: 'node-3'}], 2)).toEqual(['node-8', 'node-9'])
    expect(nextNodeIds([{id: 'node-10'}, {id: 'node-9'}], 1)).toEqual(['node-11'])
  })

  test('ids not in the node-N shape are ignored', () => {
    expect(nextNodeIds([{id: 'custom'}, {id: 'node-x'}, {id: 'node-2b'}], 1)).toEqual(['node-1'])
    expect(nextNodeIds([{id: 'custom'}, {id: 'node-4'}], 1)).toEqual(['node-5'])
  })
})

describe('sleep (the one sleep of the core and the plugin helpers)', () => {
  test('waits, and ends early with an AbortError when the signal fires', async () => {
    const started = Date.now()
    await abortableSleep(30)
    expect(Date.now() - started).toBeGreaterThanOrEqual(25)
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 10)
    const t = Date.now()
    await expect(abortableSleep(10_000, controller.signal)).rejects.toMatchObject({name: 'AbortError'})
    expect(Date.now() - t).toBeLessThan(2000)
  })
})
