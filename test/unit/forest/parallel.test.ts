import {createLimit} from '../../../src/forest/parallel.js'
import {engine, plant} from '../../helpers/engine.js'

describe('how many nodes are created at once', () => {
  test("a cloud plant: the provider's own bound, unless forest.parallel is set; local processes: forest.parallel (default 5); never beyond the provider's bound", () => {
    const cloud = {cloud: true, maxParallel: 10}
    const local = {cloud: false, maxParallel: 16}
    expect(createLimit({parallel: 5}, cloud)).toBe(10)
    expect(createLimit({parallel: 5, parallelSet: false}, cloud)).toBe(10)
    expect(createLimit({parallel: 3, parallelSet: true}, cloud)).toBe(3)
    expect(createLimit({parallel: 50, parallelSet: true}, cloud)).toBe(10)
    expect(createLimit({parallel: 5}, local)).toBe(5)
    expect(createLimit({parallel: 12, parallelSet: true}, local)).toBe(12)
    expect(createLimit({parallel: 40, parallelSet: true}, local)).toBe(16)
    expect(createLimit({parallel: 5}, {cloud: true, maxParallel: 1})).toBe(1)
  })

  /** Plant 10 nodes on the in-memory provider; the most createNode calls that were under way at once. */
  async function peak(options: Parameters<typeof engine>[0]): Promise<number> {
    const e = engine({provider: {createDelayMs: 30}, ...options})
    let running = 0
    let most = 0
    const create = e.provider.createNode.bind(e.provider)
    e.provider.createNode = async (request) => {
      most = Math.max(most, ++running)
      try {
        return await create(request)
      } finally {
        running--
      }
    }
    const result = await plant(e.deps, {nodes: 10, provider: 'memory', size: 'x'})
    expect(result.nodes).toHaveLength(10)
    return most
  }

  test('through the engine: 10 cloud nodes in one round with the defaults; forest.parallel set still bounds them; local processes 5 at a time', async () => {
    expect(await peak({capabilities: {cloud: true, maxParallel: 10}})).toBe(10)
    expect(await peak({capabilities: {cloud: true, maxParallel: 10}, settings: {parallel: 4, parallelSet: true}})).toBe(4)
    expect(await peak({capabilities: {cloud: false, maxParallel: 16}})).toBe(5)
  })
})
