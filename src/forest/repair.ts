import {MorpheusError} from '../errors.js'
import type {NodeHealth} from '../monitor/nats.js'
import type {StreamsLook, StreamView} from '../monitor/streams.js'
import type {ForestRecord, NodeRecord} from '../plugin-api/index.js'
import type {ForestDeps} from './deps.js'
import {NodeReplacement, type ReplaceClaim} from './replace.js'
import {asError, OperationRunner, type Operation, type Outcome} from './runner.js'
import {plural} from '../words.js'

export interface RepairRequest {
  forestId: string
  /** Report what would be replaced; change nothing. */
  dryRun?: boolean
  /** For cron: at most one node, and not within `cooldownMinutes` of the forest's last repair. */
  auto?: boolean
  /** --auto: minutes after the forest's last repair (recorded in the registry) before the next. */
  cooldownMinutes?: number
  /** How long the replicated streams may take to get current again after a node is replaced. */
  streamsTimeoutSeconds?: number
  /** The streams' look (default: /jsz over HTTP); tests pass their own. */
  streams?: (timeoutMs: number) => Promise<StreamsLook>
  /** Asked once the dead nodes are known, before anything is changed; false stops with nothing done. */
  confirm?: (nodes: string[]) => Promise<boolean>
}

export type RepairStatus = 'repaired' | 'healthy' | 'dry_run' | 'cooldown' | 'refused'

export interface RepairResult {
  forest: ForestRecord
  status: RepairStatus
  /** Why nothing (more) was done: majority_unreachable, cooldown, repair_in_progress, nothing_to_repair... */
  reason: string | null
  message: string
  /** Nodes that did not answer when the repair started. */
  dead: string[]
  /** Nodes given a new machine by this run (in order). */
  replaced: string[]
  /** Dead nodes left for a later run (--auto replaces one per run). */
  remaining: string[]
  /** Replicated streams and their replicas at the end (after the wait). */
  streams: StreamView[]
  nodes: NodeRecord[]
  cooldown_until: string | null
  seconds: number
}

/** A fault this large is not a dead node: more than half the nodes do not answer. */
export function majorityDown(total: number, dead: number): boolean {
  return dead > total / 2
}

type Result = (status: RepairStatus, reason: string | null, message: string, extra?: Partial<RepairResult>) => RepairResult

/**
 * Replace every node that does not answer with a new machine of the same id and addresses, one
 * after another, each waited for until the forest has formed again, then wait until every
 * replicated stream has all its replicas current. Refuses when most nodes do not answer (a network
 * or a quorum problem, not dead nodes). Ctrl-C or a failure leaves the registry saying what is
 * so; a re-run (it takes over the stopped repair) finishes the job: with no node dead, a repair
 * left recorded (or nodes left creating or starting) is finished (`resume`).
 *
 * An `Operation` (src/forest/runner.ts): prepare() looks and decides; when nothing needs changing
 * (`early`: healthy, a dry run, a refusal under --auto) the runner is not needed. result() turns
 * the runner's outcome into the result (--auto: a cooldown or another run holding the forest is a
 * status, not an error).
 */
export class Repair implements Operation<RepairResult, ReplaceClaim> {
  /** The result when nothing is to be claimed (healthy, dry_run, refused under --auto). */
  early?: RepairResult
  private readonly replaced: string[] = []
  private streamsNow: StreamView[] = []
  private cooldownUntil: string | null = null

  private constructor(
    readonly deps: ForestDeps,
    readonly request: RepairRequest,
    readonly work: NodeReplacement,
    readonly dead: string[],
    readonly chosen: string[],
    readonly resume: boolean,
    private readonly started: number,
  ) {}

  private get seconds(): number {
    return Math.round((Date.now() - this.started) / 100) / 10
  }

  private readonly result: Result = (status, reason, message, extra = {}) => ({
    cooldown_until: null,
    dead: this.dead,
    forest: this.work.forest,
    message,
    nodes: this.work.nodes,
    reason,
    remaining: [],
    replaced: [],
    seconds: this.seconds,
    status,
    streams: [],
    ...extra,
  })

  /** Which nodes are dead and what to do: refuses (an error) or decides (`early`) before anything is changed. */
  static async prepare(deps: ForestDeps, request: RepairRequest): Promise<Repair> {
    const started = Date.now()
    const work = await NodeReplacement.open(deps, request.forestId, 'repair')
    const forestId = work.forest.id
    const health = await work.look(2000)
    const dead = work.nodes.filter((n, i) => !health[i].reachable && n.status !== 'reserved').map((n) => n.id)
    const total = work.nodes.length
    const chosen = request.auto ? dead.slice(0, 1) : dead
    if (dead.length === 0) {
      // Nothing dead; a re-run after a stopped repair still waits for the streams and clears the record.
      // (Also nodes a stopped repair left creating or starting: they answer now, but were never seen whole.)
      const leftOver = work.nodes.some((n) => n.status === 'creating' || n.status === 'starting')
      const resume = (work.forest.operation?.kind === 'repair' || leftOver) && !request.dryRun
      const repair = new Repair(deps, request, work, dead, [], resume, started)
      if (!resume) repair.early = repair.result('healthy', 'nothing_to_repair', `every node of ${forestId} answers; nothing to repair`)
      return repair
    }
    const repair = new Repair(deps, request, work, dead, chosen, false, started)
    if (majorityDown(total, dead.length)) {
      const message = `${dead.length} of ${total} nodes of ${forestId} do not answer (${describeDead(work, health)}): a fault that large is not a dead node, so nothing is replaced`
      if (request.auto) {
        repair.early = repair.result('refused', 'majority_unreachable', message)
        return repair
      }
      throw new MorpheusError('USAGE', message, {
        details: {dead, forest_id: forestId},
        hint: 'Check the network and the machines first (`morpheus status`); replacing most of a JetStream cluster at once loses its quorum and its data.',
      })
    }
    if (request.dryRun) {
      repair.early = repair.result(
        'dry_run',
        null,
        `would replace ${chosen.join(', ')} (same id and addresses)${dead.length > chosen.length ? `; ${dead.slice(1).join(', ')} in later runs` : ''} (dry run: nothing changed)`,
        {remaining: dead.slice(chosen.length)},
      )
      return repair
    }
    if (request.confirm && !(await request.confirm(chosen))) throw new MorpheusError('USAGE', 'repair cancelled; nothing was changed')
    return repair
  }

  /** The repair recorded on the forest; under --auto the forest's last repair too, unless it was too recent (refused: cooldown). */
  async claim(): Promise<ReplaceClaim> {
    const {auto} = this.request
    const cooldownMs = (this.request.cooldownMinutes ?? 15) * 60_000
    if (this.resume) return this.work.claim('repair')
    return this.work.claim(
      'repair',
      (forest, now) => {
        if (auto) forest.last_repair = now.toISOString()
      },
      auto
        ? (forest, now) => {
            const last = forest.last_repair ? Date.parse(forest.last_repair) : Number.NaN
            if (Number.isFinite(last) && now.getTime() - last < cooldownMs) {
              this.cooldownUntil = new Date(last + cooldownMs).toISOString()
              return 'cooldown'
            }
            return undefined
          }
        : undefined,
    )
  }

  titles(): {create: string; wait: string} {
    const id = this.work.forest.id
    if (this.resume) {
      const left = this.work.nodes.filter((n) => n.status !== 'active').map((n) => n.id)
      return {
        create: left.length > 0 ? `Waiting for ${left.join(', ')} of ${id} to be whole again` : `Finishing the stopped repair of ${id}`,
        wait: `Waiting for the replicated streams of ${id} to be current`,
      }
    }
    return {
      create: `Replacing ${this.chosen.join(', ')} of ${id} (same id and addresses)`,
      wait: `Waiting for the replicated streams of ${id} to be current`,
    }
  }

  /** Each chosen node replaced, then waited for until the forest has formed again (a resumed repair: only the wait). */
  async create(): Promise<void> {
    const {work} = this
    if (this.resume) {
      for (const node of work.nodes.filter((n) => n.status !== 'active')) await work.waitWhole(node)
      return
    }
    for (const id of this.chosen) {
      const node = work.nodes.find((n) => n.id === id)!
      this.deps.progress.report(`${id}: replacing its machine (same id and addresses)`)
      await work.replace(node, {graceful: false})
      await work.waitWhole(node, undefined, new Set(this.dead.filter((d) => d !== id && !this.replaced.includes(d))))
      this.replaced.push(id)
    }
  }

  async waitFormed(): Promise<void> {
    this.streamsNow = await waitStreams(this.work, this.request)
  }

  async finish(): Promise<RepairResult> {
    const {work} = this
    const streams = this.streamsNow
    if (this.resume) {
      await work.release('repair: finished by a re-run')
      return this.result(
        'repaired',
        null,
        `the stopped repair of ${work.forest.id} is finished: every node answers; ${describeStreams(streams)}`,
        {streams},
      )
    }
    const replaced = this.replaced
    await work.release(`repair: replaced ${replaced.join(', ')}`)
    const remaining = this.dead.filter((id) => !replaced.includes(id))
    return this.result(
      'repaired',
      null,
      `replaced ${replaced.join(', ')} in ${this.seconds}s; ${describeStreams(streams)}${remaining.length > 0 ? `; ${plural(remaining.length, 'node')} left for the next run: ${remaining.join(', ')}` : ''}`,
      {remaining, replaced, streams},
    )
  }

  /** The operation cleared with a note saying how the repair ended; the error itself stands. */
  async settle(error: unknown): Promise<MorpheusError> {
    const {work} = this
    if (this.resume) {
      await work.release(`repair failed: ${(error as Error)?.message}`).catch(() => undefined)
      return asError(error)
    }
    const outcome = this.deps.signal.aborted ? 'interrupted' : 'failed'
    const replaced = this.replaced
    await work
      .release(
        `repair ${outcome}: ${error instanceof Error ? error.message : String(error)}${replaced.length > 0 ? ` (replaced: ${replaced.join(', ')})` : ''}`,
      )
      .catch((e) => this.deps.log.warn(`could not record how the repair of ${work.forest.id} ended: ${(e as Error).message}`))
    return asError(error)
  }

  /** The runner's outcome as a result: under --auto a cooldown or another run is a status; otherwise busy is the error. */
  outcome(outcome: Outcome<RepairResult, ReplaceClaim>): RepairResult {
    if (outcome.kind === 'done') return outcome.result
    const forestId = this.work.forest.id
    if (outcome.kind === 'busy') {
      if (!this.request.auto || this.resume) throw outcome.error
      return this.result('cooldown', 'repair_in_progress', `${forestId} is being changed by another run right now`, {
        cooldown_until: null,
        remaining: this.dead,
      })
    }
    return this.result(
      'cooldown',
      outcome.reason,
      outcome.reason === 'cooldown'
        ? `${forestId} was repaired recently; the next repair may run after ${this.cooldownUntil}`
        : `${forestId} is being changed by another run right now`,
      {cooldown_until: this.cooldownUntil, remaining: this.dead},
    )
  }
}

/** A repair from start to end through a runner of its own (engine tests; the command runs Repair through its runner). */
export async function repairForest(deps: ForestDeps, request: RepairRequest): Promise<RepairResult> {
  const repair = await Repair.prepare(deps, request)
  return repair.early ?? repair.outcome(await new OperationRunner({signal: deps.signal}).run(repair))
}

function waitStreams(work: NodeReplacement, request: RepairRequest): Promise<StreamView[]> {
  return work.waitStreamsCurrent(request.streamsTimeoutSeconds ?? 120, request.streams)
}

function describeStreams(streams: readonly StreamView[]): string {
  const replicated = streams.filter((s) => s.replicas > 1)
  return replicated.length === 0 ? 'no replicated streams' : `${plural(replicated.length, 'replicated stream')} with every replica current`
}

function describeDead(work: NodeReplacement, health: readonly NodeHealth[]): string {
  return work.nodes
    .map((n, i) => (health[i].reachable ? '' : `${n.id}: ${health[i].error ?? 'no answer'}`))
    .filter(Boolean)
    .join('; ')
}
