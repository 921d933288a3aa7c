import type {NatsConnection} from '@nats-io/transport-node'

import {MorpheusError} from '../errors.js'
import {listPlacements, moveOff, streamInfo} from '../jetstream/streams.js'
import {isFormed} from '../monitor/nats.js'
import type {StreamsLook, StreamView} from '../monitor/streams.js'
import type {ForestRecord, NodeRecord, NodeVersions} from '../plugin-api/index.js'
import type {ForestDeps} from './deps.js'
import {connectNodes} from './reach.js'
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

/** An R1 stream moved off a node before its machine was replaced (a cloud node comes back with an empty disk). */
export interface R1Move {
  stream: string
  from: string
  /** The node that holds it afterwards. */
  to: string | null
}

/** The account a forest's streams live in (clients without credentials: no_auth_user); the one Morpheus's JetStream connection reaches. */
const GLOBAL_ACCOUNT = '$G'

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
  /** R1 streams moved off a node before it was replaced (cloud providers); a dry run: the moves planned now. */
  moved: R1Move[]
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
 * stream on it would be lost, so each R1 stream on a node is moved to another node first (raised to
 * R2, the new replica current, the node's replica removed, back to R1: src/jetstream moveOff), right
 * before that node is replaced. Refused only where a move cannot be done: a one-node forest (no
 * other node), a stream in an account Morpheus's JetStream connection does not reach.
 *
 * An `Operation` (src/forest/runner.ts): prepare() checks and plans, refusing with an error; when
 * nothing needs changing (`early`: up to date, a dry run) the runner is not needed.
 */
export class Upgrade implements Operation<UpgradeResult, ReplaceClaim> {
  /** The result when nothing is to be claimed (up_to_date, dry_run). */
  early?: UpgradeResult
  private readonly upgraded: string[] = []
  private readonly moved: R1Move[] = []
  private streamsNow: StreamView[]
  private claimed = false
  /** The JetStream connection R1 streams are moved through (cloud providers; opened when first needed). */
  private nc?: NatsConnection

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
      moved: [],
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
    // On a cloud, R1 streams on nodes to upgrade are moved off them first (create()); refused where that cannot be.
    const r1 = work.handle.capabilities.cloud ? r1On(before.streams, todo) : []
    if (r1.length > 0) Upgrade.checkMovable(deps, work, r1)
    // Followers first, the meta leader last: one leader election, not one per node.
    const leader = health.find((h) => h.jetstream_leader)?.jetstream_leader
    const order = [...todo.filter((n) => n.id !== leader), ...todo.filter((n) => n.id === leader)]
    const upgrade = new Upgrade(deps, request, work, target, skipped, order, before.streams, look, started)
    if (request.dryRun) {
      const moves = r1.map((s) => `${s.name} off ${s.leader}`).join(', ')
      upgrade.early = upgrade.result(
        'dry_run',
        `would upgrade ${order.map((n) => n.id).join(', ')} one at a time to ${describeVersions(target)}${moves ? `, moving R1 streams first (${moves})` : ''} (dry run: nothing changed); now ${describeByNode(work.nodes)}`,
        {moved: r1.map((s) => ({from: s.leader!, stream: s.name, to: null}))},
      )
      return upgrade
    }
    // The JetStream connection the moves need, before anything is changed: one that cannot be had is refused now.
    if (r1.length > 0) {
      try {
        upgrade.nc = await upgrade.connect()
      } catch (error) {
        await upgrade.close()
        throw error
      }
    }
    if (
      request.confirm &&
      !(await request.confirm(
        order.map((n) => n.id),
        target,
      ))
    ) {
      await upgrade.close()
      throw new MorpheusError('USAGE', 'upgrade cancelled; nothing was changed')
    }
    return upgrade
  }

  /**
   * R1 streams on nodes to upgrade can be moved: another node to move them to, the streams in the
   * account Morpheus reaches, a JetStream client. Otherwise refused, saying why; nothing changed.
   */
  private static checkMovable(deps: ForestDeps, work: NodeReplacement, r1: StreamView[]): void {
    const forestId = work.forest.id
    const named = r1.map((s) => `${s.name} on ${s.leader}`).join(', ')
    const details = {forest_id: forestId, streams: r1.map((s) => ({account: s.account, name: s.name, node: s.leader}))}
    if (work.nodes.length < 2) {
      throw new MorpheusError(
        'USAGE',
        `forest ${forestId} holds R1 streams (${named}) on its one node: a cloud node is upgraded by a new machine with an empty disk, and there is no other node to move them to first, so they would be lost; nothing was changed`,
        {
          details,
          hint: `Grow the forest first (\`morpheus grow ${forestId}\`), then upgrade: its R1 streams are moved off each node before that node is replaced.`,
        },
      )
    }
    const elsewhere = r1.filter((s) => s.account !== GLOBAL_ACCOUNT)
    if (elsewhere.length > 0) {
      throw new MorpheusError(
        'USAGE',
        `forest ${forestId} holds R1 streams in accounts other than the global one (${elsewhere.map((s) => `${s.name} in ${s.account} on ${s.leader}`).join(', ')}): Morpheus moves streams of the global account only, and a cloud node is upgraded by a new machine with an empty disk, so they would be lost; nothing was changed`,
        {
          details,
          hint: 'Give those streams more replicas (`nats stream edit <name> --replicas 3`) or move them off those nodes, then upgrade.',
        },
      )
    }
    if (!deps.jetstream) {
      throw new MorpheusError(
        'USAGE',
        `forest ${forestId} holds R1 streams on nodes to upgrade (${named}); moving them first needs a JetStream client, which this run has not; nothing was changed`,
        {details, hint: 'Give those streams three replicas or move them off those nodes first, then upgrade.'},
      )
    }
  }

  /** The forest's nodes over their client ports (through the provider's tunnels where it has them: Hetzner's SSH). */
  private connect(): Promise<NatsConnection> {
    const {work} = this
    return connectNodes({...this.deps, jetstream: this.deps.jetstream!}, work.handle, work.forest, work.nodes, {name: 'morpheus upgrade'})
  }

  private async close(): Promise<void> {
    const nc = this.nc
    this.nc = undefined
    await nc?.close().catch(() => undefined)
  }

  /**
   * Cloud providers: every R1 stream on `node` moves to another node before its machine is replaced
   * (a new machine starts with an empty disk), each waited for until its new replica is current.
   * Looked at again right before each node, so streams made during the upgrade are moved too.
   */
  private async moveR1Off(node: NodeRecord): Promise<void> {
    if (!this.work.handle.capabilities.cloud) return
    const {streams} = await this.look(3000)
    const here = r1On(streams, [node])
    if (here.length === 0) return
    Upgrade.checkMovable(this.deps, this.work, here)
    // A node replaced since the connection was opened has a new machine (a tunnel to the old one is gone): open it again.
    if (this.upgraded.length > 0) await this.close()
    const nc = (this.nc ??= await this.connect())
    const timeoutMs = (this.request.streamsTimeoutSeconds ?? 120) * 1000
    // The JetStream API's own view (the monitor's may lag): every R1 stream with its replica on the node.
    const placements = (await listPlacements(nc)).filter((p) => p.replicas === 1 && p.peers.some((r) => r.server === node.id))
    for (const p of placements) {
      if (this.deps.signal.aborted) throw new MorpheusError('INTERRUPTED', `interrupted while moving R1 streams off ${node.id}`)
      this.deps.progress.report(`${p.name}: moving this R1 stream off ${node.id} first (its new machine starts with an empty disk)`)
      await moveOff(nc, p.name, node.id, {
        progress: (m) => this.deps.progress.report(m),
        signal: this.deps.signal,
        timeoutMs,
      })
      const to = (await streamInfo(nc, p.name)).cluster?.leader ?? null
      this.moved.push({from: node.id, stream: p.name, to})
      this.deps.progress.report(`${p.name}: on ${to ?? 'another node'} now, every message with it`)
    }
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
      await this.moveR1Off(node)
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
    await this.close()
    await this.work.release(`upgrade: ${describeVersions(target)} on every node`, (f) => void (f.versions = target))
    return this.result(
      'upgraded',
      `upgraded ${plural(upgraded.length, 'node')} (${upgraded.join(', ') || 'none left'}) to ${describeVersions(target)} in ${this.seconds}s, one at a time; every node runs it${this.moved.length > 0 ? `; moved ${plural(this.moved.length, 'R1 stream')} off nodes before they were replaced (${this.moved.map((m) => `${m.stream}: ${m.from} → ${m.to ?? '?'}`).join(', ')})` : ''}`,
      {moved: this.moved, streams: this.streamsNow, upgraded},
    )
  }

  /** The operation cleared with a note saying which nodes run which version; the error says so too. */
  async settle(error: unknown): Promise<MorpheusError> {
    const {work, upgraded} = this
    await this.close()
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

/** R1 streams whose one replica is on one of `nodes` (as the streams' leaders report on /jsz). */
function r1On(streams: readonly StreamView[], nodes: readonly Pick<NodeRecord, 'id'>[]): StreamView[] {
  const names = new Set(nodes.map((n) => n.id))
  return streams.filter((s) => s.replicas === 1 && s.leader !== null && names.has(s.leader))
}

/** An upgrade from start to end through a runner of its own (engine tests; the command runs Upgrade through its runner). */
export async function upgradeForest(deps: ForestDeps, request: UpgradeRequest): Promise<UpgradeResult> {
  const upgrade = await Upgrade.prepare(deps, request)
  return upgrade.early ?? upgrade.outcome(await new OperationRunner({signal: deps.signal}).run(upgrade))
}
