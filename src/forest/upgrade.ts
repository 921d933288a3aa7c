import {MorpheusError} from '../errors.js'
import {isFormed} from '../monitor/nats.js'
import type {StreamsLook, StreamView} from '../monitor/streams.js'
import type {ForestRecord, NodeRecord, NodeVersions} from '../plugin-api/index.js'
import type {ForestDeps} from './deps.js'
import {describeStream, NodeReplacement, type ReplaceClaim} from './replace.js'
import {asError, OperationRunner, type Operation, type Outcome} from './runner.js'
import {describeVersions} from './versions.js'
import {plural} from '../words.js'

export interface UpgradeRequest {
  forestId: string
  /** What to run: a nats-server version (system mode; a local node: a version or a binary's path) or a NimsForest build. */
  wanted: {nats?: string; nimsforest?: string}
  dryRun?: boolean
  /** How long the replicated streams may take to get current again after each node. */
  streamsTimeoutSeconds?: number
  /** The streams' look (default: /jsz over HTTP); tests pass their own. */
  streams?: (timeoutMs: number) => Promise<StreamsLook>
  /** Asked once the plan is known (nodes in order, the target), before anything is changed; false stops with nothing done. */
  confirm?: (nodes: string[], target: NodeVersions) => Promise<boolean>
}

export type UpgradeStatus = 'upgraded' | 'up_to_date' | 'dry_run'

export interface UpgradeResult {
  forest: ForestRecord
  status: UpgradeStatus
  message: string
  /** What every node runs afterwards (the forest records it). */
  target: NodeVersions
  /** Nodes upgraded by this run, in order. */
  upgraded: string[]
  /** Nodes that ran the target already (a re-run after a stop goes on with the rest). */
  skipped: string[]
  /** Which nodes run which version, at the end: {"2.10.24 (…)": ["node-1", ...]}. */
  versions_by_node: Record<string, string[]>
  streams: StreamView[]
  nodes: NodeRecord[]
  seconds: number
}

/** Does the node run `target` already (as recorded: what its provider reported when it was made)? */
export function runsTarget(node: Pick<NodeRecord, 'versions'>, target: NodeVersions): boolean {
  const v = node.versions
  if (!v) return false
  if (target.nats && (v.nats !== target.nats || (target.nats_source !== undefined && v.nats_source !== target.nats_source))) return false
  if (target.nimsforest && v.nimsforest !== target.nimsforest) return false
  return true
}

export function versionsByNode(nodes: readonly NodeRecord[]): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const n of nodes) (out[describeVersions(n.versions)] ??= []).push(n.id)
  return out
}

function describeByNode(nodes: readonly NodeRecord[]): string {
  return Object.entries(versionsByNode(nodes))
    .map(([v, ids]) => `${ids.join(', ')} ${ids.length === 1 ? 'runs' : 'run'} ${v}`)
    .join('; ')
}

/**
 * Upgrade a forest one node at a time: each node's machine is replaced in place (same id and
 * addresses) by one running the target version, after lame duck mode on the old one; then the
 * forest must form again (/healthz?js-enabled-only=true on the node, every route back, one
 * JetStream leader) and every replicated stream must be current before the next node. It stops
 * at the first failure and says which nodes run which version. The forest's meta leader goes last.
 *
 * A cloud node comes back with an empty disk: its R3 replicas re-sync from the others, but an R1
 * stream on it would be lost, so such a forest is refused while any node to upgrade leads an R1
 * stream (move or replicate it first).
 *
 * An `Operation` (src/forest/runner.ts): prepare() checks and plans, refusing with an error; when
 * nothing needs changing (`early`: up to date, a dry run) the runner is not needed.
 */
export class Upgrade implements Operation<UpgradeResult, ReplaceClaim> {
  /** The result when nothing is to be claimed (up_to_date, dry_run). */
  early?: UpgradeResult
  private readonly upgraded: string[] = []
  private streamsNow: StreamView[]
  private claimed = false

  private constructor(
    readonly deps: ForestDeps,
    readonly request: UpgradeRequest,
    readonly work: NodeReplacement,
    readonly target: NodeVersions,
    readonly skipped: string[],
    readonly order: NodeRecord[],
    streams: StreamView[],
    private readonly look: (timeoutMs: number) => Promise<StreamsLook>,
    private readonly started: number,
  ) {
    this.streamsNow = streams
  }

  private get seconds(): number {
    return Math.round((Date.now() - this.started) / 100) / 10
  }

  private result(status: UpgradeStatus, message: string, extra: Partial<UpgradeResult> = {}): UpgradeResult {
    return {
      forest: this.work.forest,
      message,
      nodes: this.work.nodes,
      seconds: this.seconds,
      skipped: this.skipped,
      status,
      streams: [],
      target: this.target,
      upgraded: [],
      versions_by_node: versionsByNode(this.work.nodes),
      ...extra,
    }
  }

  /** The target resolved, the forest checked (whole, streams current, no R1 stream to lose) and the order planned; nothing changed. */
  static async prepare(deps: ForestDeps, request: UpgradeRequest): Promise<Upgrade> {
    const started = Date.now()
    const {nats, nimsforest} = request.wanted
    if (Boolean(nats) === Boolean(nimsforest))
      throw new MorpheusError('USAGE', 'name exactly one of --nats <version> and --nimsforest <build>')
    const work = await NodeReplacement.open(deps, request.forestId, 'upgrade')
    const forestId = work.forest.id
    if (nats && work.natsMode === 'embedded') {
      throw new MorpheusError(
        'USAGE',
        `forest ${forestId} runs NimsForest with NATS embedded: there is no separate nats-server to upgrade`,
        {
          hint: `Upgrade NimsForest instead: \`morpheus upgrade ${forestId} --nimsforest <build>\`.`,
        },
      )
    }
    const resolved = work.handle.provider.resolveVersions
      ? await work.handle.provider.resolveVersions({natsMode: work.natsMode, signal: deps.signal, wanted: request.wanted})
      : {...request.wanted}
    // The recorded versions with the part being upgraded replaced (a new nats-server has its own source).
    const base = {...work.forest.versions}
    if (resolved.nats) delete base.nats_source
    const target: NodeVersions = {...base, ...resolved}
    const todo = work.nodes.filter((n) => !runsTarget(n, target))
    const skipped = work.nodes.filter((n) => runsTarget(n, target)).map((n) => n.id)
    const resuming = work.forest.operation?.kind === 'upgrade'
    const look = request.streams ?? ((ms: number) => work.streams(ms))
    if (todo.length === 0 && !resuming) {
      const upgrade = new Upgrade(deps, request, work, target, skipped, [], [], look, started)
      upgrade.early = upgrade.result('up_to_date', `every node of ${forestId} runs ${describeVersions(target)} already`)
      return upgrade
    }

    // The forest must be whole before a node is taken away (a re-run may find the node it stopped at down).
    const unfinished = new Set(resuming ? work.nodes.filter((n) => n.status !== 'active').map((n) => n.id) : [])
    // A forest whose nodes all answer but that is not whole yet (a stream just made, a node catching
    // up) gets a moment, up to forest.form_timeout_seconds; a node that does not answer is refused at once.
    const deadline = Date.now() + deps.settings.form_timeout_seconds * 1000
    let health = await work.look(2000)
    let before = await look(3000)
    const ready = () =>
      isFormed(health.filter((_, i) => !unfinished.has(work.nodes[i].id))) && before.streams.every((s) => s.replicas === 1 || s.current)
    while (
      !ready() &&
      health.every((h, i) => h.reachable || unfinished.has(work.nodes[i].id)) &&
      Date.now() < deadline &&
      !deps.signal.aborted
    ) {
      deps.progress.report('waiting for the forest to be whole and its streams current before the first node')
      await new Promise((r) => setTimeout(r, Math.max(deps.pollMs ?? 500, 50)))
      ;[health, before] = await Promise.all([work.look(2000), look(3000)])
    }
    const whole = isFormed(health.filter((_, i) => !unfinished.has(work.nodes[i].id)))
    if (!whole) {
      const bad = work.nodes.map((n, i) => (health[i].healthy ? '' : `${n.id}: ${health[i].error ?? 'not healthy'}`)).filter(Boolean)
      throw new MorpheusError(
        'USAGE',
        `forest ${forestId} is not healthy (${bad.join('; ') || 'it has not formed: routes or the JetStream leader are missing'}), so it is not upgraded: taking a node away now could lose the quorum`,
        {
          details: {forest_id: forestId},
          hint: `Run \`morpheus repair ${forestId}\` (or wait until \`morpheus status ${forestId}\` says healthy), then upgrade.`,
        },
      )
    }
    const behind = before.streams.filter((s) => s.replicas > 1 && !s.current)
    if (behind.length > 0 && !resuming) {
      throw new MorpheusError(
        'USAGE',
        `not every replica of the streams of ${forestId} is current (${behind.map((s) => `${s.name}: ${describeStream(s)}`).join('; ')}), so no node is taken away now`,
        {
          details: {forest_id: forestId, streams: behind.map((s) => s.name)},
          hint: 'Wait until they are current (a node that just came back catches up), then upgrade.',
        },
      )
    }
    if (work.handle.capabilities.cloud) {
      const names = new Set(todo.map((n) => n.id))
      const r1 = before.streams.filter((s) => s.replicas === 1 && s.leader && names.has(s.leader))
      if (r1.length > 0) {
        throw new MorpheusError(
          'USAGE',
          `forest ${forestId} holds R1 streams on nodes to upgrade (${r1.map((s) => `${s.name} on ${s.leader}`).join(', ')}): a cloud node is upgraded by a new machine with an empty disk, so they would be lost`,
          {
            details: {forest_id: forestId, streams: r1.map((s) => ({name: s.name, node: s.leader}))},
            hint: 'Give those streams three replicas (`nats stream edit <name> --replicas 3`) or move them off those nodes first, then upgrade.',
          },
        )
      }
    }
    // Followers first, the meta leader last: one leader election, not one per node.
    const leader = health.find((h) => h.jetstream_leader)?.jetstream_leader
    const order = [...todo.filter((n) => n.id !== leader), ...todo.filter((n) => n.id === leader)]
    const upgrade = new Upgrade(deps, request, work, target, skipped, order, before.streams, look, started)
    if (request.dryRun) {
      upgrade.early = upgrade.result(
        'dry_run',
        `would upgrade ${order.map((n) => n.id).join(', ')} one at a time to ${describeVersions(target)} (dry run: nothing changed); now ${describeByNode(work.nodes)}`,
      )
      return upgrade
    }
    if (
      request.confirm &&
      !(await request.confirm(
        order.map((n) => n.id),
        target,
      ))
    )
      throw new MorpheusError('USAGE', 'upgrade cancelled; nothing was changed')
    return upgrade
  }

  async claim(): Promise<ReplaceClaim> {
    const claim = await this.work.claim('upgrade')
    this.claimed = claim.kind === 'claimed'
    return claim
  }

  titles(): {create: string; wait: string} {
    const id = this.work.forest.id
    return {
      create: `Upgrading ${this.order.map((n) => n.id).join(', ') || 'no node left'} of ${id} to ${describeVersions(this.target)}, one at a time`,
      wait: `Waiting for the replicated streams of ${id} to be current`,
    }
  }

  /** One node after another: lame duck and a new machine, the forest whole again, every replicated stream current. */
  async create(): Promise<void> {
    const {work, target} = this
    const timeout = this.request.streamsTimeoutSeconds ?? 120
    for (const planned of this.order) {
      const node = work.nodes.find((n) => n.id === planned.id)!
      this.deps.progress.report(`${node.id}: lame duck, then ${describeVersions(target)}`)
      await work.replace(node, {graceful: true, versions: target})
      await work.waitWhole(node)
      this.streamsNow = await work.waitStreamsCurrent(timeout, this.look)
      this.upgraded.push(node.id)
    }
  }

  /** Each node was waited for as it was upgraded; a re-run with no node left waits for the streams here. */
  async waitFormed(): Promise<void> {
    if (this.order.length === 0) this.streamsNow = await this.work.waitStreamsCurrent(this.request.streamsTimeoutSeconds ?? 120, this.look)
  }

  async finish(): Promise<UpgradeResult> {
    const {target, upgraded} = this
    await this.work.release(`upgrade: ${describeVersions(target)} on every node`, (f) => void (f.versions = target))
    return this.result(
      'upgraded',
      `upgraded ${plural(upgraded.length, 'node')} (${upgraded.join(', ') || 'none left'}) to ${describeVersions(target)} in ${this.seconds}s, one at a time; every node runs it`,
      {streams: this.streamsNow, upgraded},
    )
  }

  /** The operation cleared with a note saying which nodes run which version; the error says so too. */
  async settle(error: unknown): Promise<MorpheusError> {
    const {work, upgraded} = this
    const forestId = work.forest.id
    const outcome = this.deps.signal.aborted ? 'interrupted' : 'failed'
    const where = describeByNode(work.nodes)
    await work
      .release(`upgrade ${outcome} after ${upgraded.length} of ${this.order.length} nodes: ${where}`)
      .catch((e) => this.deps.log.warn(`could not record how the upgrade of ${forestId} ended: ${(e as Error).message}`))
    const e = asError(error)
    // Not claimed: nothing was changed, the error stands as it is.
    if (!this.claimed) return e
    return new MorpheusError(e.kind, `${e.message}. The upgrade stopped: ${where}`, {
      cause: error,
      details: {...e.details, forest_id: forestId, upgraded, versions_by_node: versionsByNode(work.nodes)},
      hint:
        e.hint ?? `Fix what is named, then run \`morpheus upgrade ${forestId}\` again: nodes that run the new version already are skipped.`,
    })
  }

  /** The runner's outcome as a result; another operation on the forest is the error. */
  outcome(outcome: Outcome<UpgradeResult, ReplaceClaim>): UpgradeResult {
    if (outcome.kind === 'done') return outcome.result
    if (outcome.kind === 'busy') throw outcome.error
    throw new MorpheusError('REGISTRY', `forest ${this.work.forest.id} was not claimed for the upgrade (${outcome.reason})`)
  }
}

/** An upgrade from start to end through a runner of its own (engine tests; the command runs Upgrade through its runner). */
export async function upgradeForest(deps: ForestDeps, request: UpgradeRequest): Promise<UpgradeResult> {
  const upgrade = await Upgrade.prepare(deps, request)
  return upgrade.early ?? upgrade.outcome(await new OperationRunner({signal: deps.signal}).run(upgrade))
}
