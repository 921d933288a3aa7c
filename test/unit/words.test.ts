import {evenCountWarning, plural} from '../../src/words.js'

test('plural: one node, two nodes, zero nodes', () => {
  expect(plural(1, 'node')).toBe('1 node')
  expect(plural(2, 'node')).toBe('2 nodes')
  expect(plural(0, 'forest')).toBe('0 forests')
  expect(plural(3, 'entry', 'entries')).toBe('3 entries')
})

test('the even-count warning: what the forest survives, no "1 nodes" or "0 failed node"', () => {
  expect(evenCountWarning(3)).toBeUndefined()
  expect(evenCountWarning(1)).toBeUndefined()
  expect(evenCountWarning(2)).toBe(
    '2 nodes: JetStream needs a majority (2), so this forest survives no failed node, no more than 1 node would',
  )
  expect(evenCountWarning(4)).toBe(
    '4 nodes: JetStream needs a majority (3), so this forest survives 1 failed node, no more than 3 nodes would',
  )
  expect(evenCountWarning(6)).toBe(
    '6 nodes: JetStream needs a majority (4), so this forest survives 2 failed nodes, no more than 5 nodes would',
  )
})
