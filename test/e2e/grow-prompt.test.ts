import {spawn} from 'node:child_process'

import {BIN, Sandbox, nodeProcesses} from '../helpers/cli.js'

/**
 * grow on a terminal: `script` (util-linux) gives the CLI a real pseudo-terminal, so the prompts run
 * as a person sees them. Answers are typed once the question is on the screen.
 */
function onTerminal(sb: Sandbox, args: string[], answers: Array<{when: string; type: string}>, timeoutMs = 90_000): Promise<{code: number | null; out: string}> {
  const command = `stty cols 120 rows 40; exec ${[process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ')}`
  const child = spawn('script', ['-qec', command, '/dev/null'], {cwd: sb.dir, env: {...sb.env, TERM: 'dumb'}, stdio: ['pipe', 'pipe', 'pipe']})
  let out = ''
  const pending = [...answers]
  const onData = (d: Buffer) => {
    out += d.toString()
    // eslint-disable-next-line no-control-regex
    const plain = out.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    while (pending.length > 0 && plain.includes(pending[0].when)) child.stdin.write(pending.shift()!.type)
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`timed out; output so far:\n${out}`))
    }, timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      // eslint-disable-next-line no-control-regex
      resolve({code, out: out.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replaceAll('\r', '')})
    })
  })
}

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
    const r = await onTerminal(sb, ['grow', '--threshold', '0'], [{type: '\r', when: 'Which forest?'}, {type: 'n\r', when: 'Add 1 node? [y/N]'}])
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
    expect(doc.nodes[second].map((n: any) => [n.id, n.status])).toEqual([['node-1', 'active'], ['node-2', 'active']])
    expect(doc.nodes[first]).toHaveLength(1)
    expect(nodeProcesses(`${sb.dir}/local/${second}/`)).toHaveLength(2)
  }, 180_000)
})
