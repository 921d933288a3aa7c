import {Sandbox, nodeProcesses, onTerminal} from '../helpers/cli.js'

// On a terminal: onTerminal() gives the CLI a real pseudo-terminal (`script`), so the prompts run as a person sees them.

describe('grow on a terminal', () => {
  let sb: Sandbox
  let first = ''
  let second = ''
  beforeAll(async () => {
    sb = new Sandbox()
    first = (await sb.json(['plant', 'local', 'small'])).forest.id
    second = (await sb.json(['plant', 'local', 'small'])).forest.id
  }, 120_000)
  afterAll(async () => {
    for (const id of Object.keys(sb.registry().forests)) await sb.run(['teardown', id, '--yes'])
    await sb.cleanup()
  }, 120_000)

  test('several forests: grow asks which one; answering N at "Add 1 node? [y/N]" adds nothing', async () => {
    const before = JSON.stringify(sb.registry())
    // Threshold 0: resident memory alone is above it, so grow recommends a node.
    const r = await onTerminal(
      sb,
      ['grow', '--threshold', '0'],
      [
        {type: '\r', when: 'Which forest?'},
        {type: 'n\r', when: 'Add 1 node? [y/N]'},
      ],
    )
    expect(r.out).toContain('Which forest?')
    expect(r.out).toContain(`🌲 Forest: ${first}`)
    expect(r.out).toContain('Recommendation: Add 1 node (no extra cost)')
    expect(r.out).toContain('Nothing added.')
    expect(r.code).toBe(0)
    expect(JSON.stringify(sb.registry())).toBe(before)
  }, 180_000)

  test('answering y adds the node, shows the progress and ends when it has joined', async () => {
    const r = await onTerminal(sb, ['grow', second, '--threshold', '0'], [{type: 'y\r', when: 'Add 1 node? [y/N]'}])
    expect(r.out).toContain(`🌲 Forest: ${second}`)
    expect(r.out).toContain('Turning node-1 into a cluster, then creating node-2 (local)')
    expect(r.out).toContain('✅ Node added (node-2). Cluster now has 2 nodes.')
    expect(r.code).toBe(0)
    const doc = sb.registry()
    expect(doc.nodes[second].map((n: any) => [n.id, n.status])).toEqual([
      ['node-1', 'active'],
      ['node-2', 'active'],
    ])
    expect(doc.nodes[first]).toHaveLength(1)
    expect(nodeProcesses(`${sb.dir}/local/${second}/`)).toHaveLength(2)
  }, 180_000)
})
