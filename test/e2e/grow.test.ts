import {readFileSync, writeFileSync} from 'node:fs'

import {Sandbox} from '../helpers/cli.js'
import {Load, waitIdle, waitLoaded} from './grow-load.js'

/**
 * grow on a real local forest (real nats-servers), through the built CLI: the screen, and --auto deciding
 * from real metrics under real load (publishers), with every guard: unreachable nodes, the cooldown from
 * the registry, max_nodes, growth.enabled, several forests, errors and their exit codes.
 */
/** Loaded nodes on a busy shared machine may take a while to answer: a stopped one never does. */
const SLOW = ['--node-timeout', '5000']

describe('grow reads a real local forest and decides from its real load', () => {
  let sb: Sandbox
  const load = new Load()
  let forestId = ''
  let nodes: Array<{id: string; ip: string; monitor: string}> = []

  beforeAll(async () => {
    sb = new Sandbox()
    const planted = await sb.json(['plant', 'local', 'medium'])
    forestId = planted.forest.id
    nodes = planted.nodes
  }, 120_000)
  afterAll(async () => {
    await load.stop()
    await sb.cleanup()
  }, 120_000)

  const editRegistry = (edit: (doc: any) => void) => {
    const doc = sb.registry()
    edit(doc)
    writeFileSync(sb.registryPath, JSON.stringify(doc, null, 2))
  }

  test('idle: the grow screen shows the cluster, every node healthy with 2/2 routes, and no recommendation', async () => {
    await waitIdle(
      nodes.map((n) => n.monitor),
      1.5,
    )
    const r = await sb.run(['grow', '--threshold', '3', ...SLOW])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`🌲 Forest: ${forestId}`)
    expect(r.stdout).toContain('Nodes: 3 connected')
    expect(r.stdout).toContain('Routes: full mesh (each node sees 2 routes)')
    expect(r.stdout).toMatch(/CPU: +(<0\.1|\d+(\.\d)?)% [█░]{25}\n/)
    for (const n of nodes) expect(r.stdout).toMatch(new RegExp(`${n.id} +${n.ip.replaceAll('.', '\\.')} +\\S+ +\\S+ +0% +2/2 +healthy`))
    expect(r.stdout).toContain('No growth needed')
    expect(r.stdout).not.toContain('Add 1 node?')
  }, 180_000)

  test('idle: grow --auto --dry-run --json says no_action, below_threshold, with the real metrics', async () => {
    const out = await sb.json(['grow', forestId, '--auto', '--dry-run', '--threshold', '3', ...SLOW])
    expect(out).toMatchObject({action: null, forest_id: forestId, reason: 'below_threshold', status: 'no_action'})
    // The envelope's ok and warnings, then the seeds' fields first.
    expect(Object.keys(out).slice(0, 8)).toEqual(['ok', 'warnings', 'forest_id', 'status', 'reason', 'message', 'metrics', 'action'])
    expect(out.forest).toMatchObject({id: forestId, node_count: 3, provider: 'local'})
    expect(out.metrics).toMatchObject({node_count: 3, reachable: 3, routes_ok: true, unreachable: 0})
    expect(out.metrics.cpu_percent).toBeLessThanOrEqual(3)
    // Memory % is RSS over this machine's RAM (local nodes): small but known.
    expect(out.metrics.memory_percent).toBeGreaterThan(0)
    expect(out.metrics.memory_percent).toBeLessThan(5)
    expect(out.metrics.storage_percent).toBe(0)
    expect(out.nodes.map((n: any) => [n.id, n.state, n.routes])).toEqual([
      ['node-1', 'healthy', 2],
      ['node-2', 'healthy', 2],
      ['node-3', 'healthy', 2],
    ])
  }, 180_000)

  test('under real load (publishers on every node), --auto --dry-run decides to add node-4 and changes nothing', async () => {
    for (const n of nodes) load.start(n.ip)
    const cpu = await waitLoaded(
      nodes.map((n) => n.monitor),
      4,
    )
    expect(cpu.every((c) => c > 4)).toBe(true)
    const before = readFileSync(sb.registryPath, 'utf8')
    const out = await sb.json(['grow', '--auto', '--dry-run', '--threshold', '2', ...SLOW])
    expect(out.results).toHaveLength(1)
    const r = out.results[0]
    expect(r).toMatchObject({forest_id: forestId, reason: 'cpu_above_threshold', status: 'dry_run'})
    expect(r.metrics.cpu_percent).toBeGreaterThan(2)
    expect(r.metrics.in_msgs).toBeGreaterThan(10_000)
    expect(r.metrics.connections).toBeGreaterThanOrEqual(3)
    expect(r.action).toMatchObject({count: 1, node_id: 'node-4', node_ids: ['node-4'], nodes_after: 4, type: 'provision_node'})
    expect(r.action.monthly_price).toEqual({amount: 0, currency: 'EUR'})
    expect(readFileSync(sb.registryPath, 'utf8')).toBe(before)
  }, 180_000)

  test('under load the screen warns, recommends one node with its cost, and will not add without a terminal or --yes', async () => {
    const before = readFileSync(sb.registryPath, 'utf8')
    const r = await sb.run(['grow', forestId, '--threshold', '2', ...SLOW])
    expect(r.code).toBe(2)
    expect(r.stdout).toMatch(/CPU: +\d+(\.\d)?% [█░]{25} ⚠️/)
    expect(r.stdout).toContain('⚠️  CPU usage above 2% threshold')
    expect(r.stdout).toContain('Recommendation: Add 1 node (no extra cost)')
    expect(r.stdout).toMatch(/node-1 .* warning/)
    expect(r.stderr).toContain('without confirmation: stdin is not a terminal')
    expect(r.stderr).toContain('--yes')
    expect(readFileSync(sb.registryPath, 'utf8')).toBe(before)
    // --dry-run shows the same and exits 0.
    const dry = await sb.run(['grow', forestId, '--threshold', '2', '--dry-run', ...SLOW])
    expect(dry.code).toBe(0)
    expect(dry.stdout).toContain('Dry run: nothing added.')
  }, 180_000)

  test('an unreachable node stops growth whatever the load, and the JSON says so', async () => {
    const pid = JSON.parse(readFileSync(`${sb.dir}/local/${forestId}/node-3/node.json`, 'utf8')).pid
    process.kill(pid, 'SIGSTOP')
    try {
      const r = await sb.run(['grow', '--auto', '--threshold', '2', '--output', 'json', ...SLOW])
      expect(r.code).toBe(0)
      const out = JSON.parse(r.stdout).results[0]
      expect(out).toMatchObject({action: null, reason: 'nodes_unreachable', status: 'no_action'})
      expect(out.message).toContain('1 of 3 nodes did not answer')
      expect(out.metrics).toMatchObject({reachable: 2, unreachable: 1})
      expect(out.nodes[2]).toMatchObject({error: 'timed out', id: 'node-3', reachable: false, state: 'unreachable'})
      const screen = await sb.run(['grow', forestId, '--threshold', '2', ...SLOW])
      expect(screen.stdout).toContain('2 of 3 answering, 1 unreachable')
      expect(screen.stdout).toMatch(/node-3 .* unreachable \(timed out\)/)
      expect(screen.code).toBe(0)
    } finally {
      process.kill(pid, 'SIGCONT')
    }
  }, 180_000)

  test('the cooldown comes from the registry: an expansion recorded by another device holds this one back', async () => {
    const at = new Date(Date.now() - 60_000).toISOString()
    editRegistry((doc) => (doc.forests[forestId].last_expansion = at))
    try {
      const out = await sb.json(['grow', forestId, '--auto', '--threshold', '2', ...SLOW])
      expect(out).toMatchObject({action: null, reason: 'cooldown', status: 'cooldown'})
      expect(Date.parse(out.cooldown_until)).toBe(Date.parse(at) + 15 * 60_000)
      // A shorter cooldown in the config lets it through (dry run: nothing is added).
      sb.writeConfig('growth:\n  cooldown_minutes: 0.5\n')
      const through = await sb.json(['grow', forestId, '--auto', '--dry-run', '--threshold', '2', ...SLOW])
      // Past the cooldown the decision is the load's again (which, on a busy machine, may sit either side of 2%).
      expect(through.reason).not.toBe('cooldown')
      expect(['dry_run', 'no_action']).toContain(through.status)
    } finally {
      sb.writeConfig('')
      editRegistry((doc) => (doc.forests[forestId].last_expansion = null))
    }
  }, 180_000)

  test('growth.max_nodes and growth.enabled from the config', async () => {
    try {
      // --threshold 0: memory (NATS RSS) is always above 0%, so the load is over the threshold whatever the
      // machine's CPU does, and only the limit in the config can hold growth back.
      sb.writeConfig('growth:\n  max_nodes: 3\n')
      const atMax = await sb.json(['grow', forestId, '--auto', '--threshold', '0', ...SLOW])
      expect(atMax).toMatchObject({action: null, reason: 'at_max_nodes', status: 'at_max_nodes'})
      expect(atMax.message).toContain('growth.max_nodes is 3')
      sb.writeConfig('growth:\n  enabled: false\n')
      expect(await sb.json(['grow', forestId, '--auto', '--threshold', '0', ...SLOW])).toMatchObject({
        action: null,
        reason: 'growth_disabled',
        status: 'no_action',
      })
      sb.writeConfig('growth:\n  threshold_cpu: 101\n')
      const bad = await sb.run(['grow', forestId, '--auto'])
      expect(bad.code).toBe(3)
      expect(bad.stderr).toContain('growth.threshold_cpu must be at most 100')
    } finally {
      sb.writeConfig('')
    }
  }, 180_000)

  test('bad flags are usage errors', async () => {
    const r = await sb.run(['grow', '--auto', '--threshold', '150'])
    expect(r.code).toBe(2)
    const o = await sb.run(['grow', '--auto', '--output', 'yaml'])
    expect(o.code).toBe(2)
    const missing = await sb.runJson(['grow', 'forest-nope', '--auto'])
    expect(missing.code).toBe(6)
    expect(missing.out.error.message).toContain('no forest "forest-nope"')
  }, 180_000)

  test('several forests: grow without a forest lists them (no terminal); --auto checks every one; an error sets the exit code', async () => {
    await load.stop()
    const second = (await sb.json(['plant', 'local', 'small'])).forest.id
    const r = await sb.run(['grow'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(forestId)
    expect(r.stderr).toContain(second)
    const all = await sb.json(['grow', '--auto', '--dry-run'])
    expect(all.results.map((f: any) => f.forest_id)).toEqual([forestId, second])
    expect(all.results[1].metrics).toMatchObject({node_count: 1, reachable: 1, routes_ok: true})
    // A forest whose provider is not installed here: status error for it, the others still decided.
    editRegistry((doc) => (doc.forests[second].provider = 'nowhere'))
    const mixed = await sb.runJson(['grow', '--auto', '--dry-run'])
    expect(mixed.code).toBe(2)
    // The error envelope: the first failure as `error`, and every forest's result.
    expect(mixed.out).toMatchObject({error: {code: 'USAGE', exitCode: 2}, ok: false})
    const results = mixed.out.results
    expect(results[0].status).not.toBe('error')
    expect(results[1]).toMatchObject({reason: 'error', status: 'error'})
    expect(results[1].error).toMatchObject({code: 'USAGE', exitCode: 2})
    expect(results[1].error.message).toContain('unknown provider "nowhere"')
    editRegistry((doc) => (doc.forests[second].provider = 'local'))
    const text = await sb.run(['grow', '--auto', '--dry-run'])
    expect(text.code).toBe(0)
    expect(text.stdout.trim().split('\n')).toHaveLength(2)
    expect(text.stdout).toMatch(new RegExp(`^\\S+Z ${second}: no_action \\(below_threshold\\)`, 'm'))
    await sb.json(['teardown', second, '--yes'])
  }, 180_000)
})
