import {MorpheusError} from '../errors.js'
import type {NodeHealth} from '../monitor/nats.js'
import type {StreamsLook, StreamView} from '../monitor/streams.js'
import type {ForestRecord, NodeRecord} from '../plugin-api/index.js'
import type {ForestDeps} from './deps.js'
import {NodeReplacement} from './replace.js'
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

/**
 * Replace every node that does not answer with a new machine of the same id and addresses, one
 * after another, each waited for until the forest has formed again, then wait until every
 * replicated stream has all its replicas current. Refuses when most nodes do not answer (a network
 * or a quorum problem, not dead nodes). Ctrl-C or a failure leaves the registry saying what is
 * so; a re-run (it takes over the stopped repair) finishes the job.
 */
export async function repairForest(deps: ForestDeps, request: RepairRequest): Promise<RepairResult> {
  const started = Date.now()
  const work = await NodeReplacement.open(deps, request.forestId, 'repair')
  const forestId = work.forest.id
  const health = await work.look(2000)
  const dead = work.nodes.filter((n, i) => !health[i].reachable && n.status !== 'reserved').map((n) => n.id)
  const seconds = () => Math.round((Date.now() - started) / 100) / 10
  const result = (status: RepairStatus, reason: string | null, message: string, extra: Partial<RepairResult> = {}): RepairResult => ({
    cooldown_until: null,
    dead,
    forest: work.forest,
    message,
    nodes: work.nodes,
    reason,
    remaining: [],
    replaced: [],
    seconds: seconds(),
    status,
    streams: [],
    ...extra,
  })
  const total = work.nodes.length
  if (dead.length === 0) {
    // Nothing dead; a re-run after a stopped repair still waits for the streams and clears the record.
    // (Also nodes a stopped repair left creating or starting: they answer now, but were never seen whole.)
    const leftOver = work.nodes.some((n) => n.status === 'creating' || n.status === 'starting')
    if ((work.forest.operation?.kind === 'repair' || leftOver) && !request.dryRun) return finishStopped(work, request, result)
    return result('healthy', 'nothing_to_repair', `every node of ${forestId} answers; nothing to repair`)
  }
  if (majorityDown(total, dead.length)) {
    const message = `${dead.length} of ${total} nodes of ${forestId} do not answer (${describeDead(work, health)}): a fault that large is not a dead node, so nothing is replaced`
    if (request.auto) return result('refused', 'majority_unreachable', message)
    throw new MorpheusError('USAGE', message, {
      details: {dead, forest_id: forestId},
      hint: 'Check the network and the machines first (`morpheus status`); replacing most of a JetStream cluster at once loses its quorum and its data.',
    })
  }
  const cooldownMs = (request.cooldownMinutes ?? 15) * 60_000
  const chosen = request.auto ? dead.slice(0, 1) : dead
  if (request.dryRun) {
    return result(
      'dry_run',
      null,
      `would replace ${chosen.join(', ')} (same id and addresses)${dead.length > chosen.length ? `; ${dead.slice(1).join(', ')} in later runs` : ''} (dry run: nothing changed)`,
      {remaining: dead.slice(chosen.length)},
    )
  }
  if (request.confirm && !(await request.confirm(chosen))) throw new MorpheusError('USAGE', 'repair cancelled; nothing was changed')
  let cooldownUntil: string | null = null
  const refused = await work
    .claim(
      'repair',
      (forest, now) => {
        if (request.auto) forest.last_repair = now.toISOString()
      },
      request.auto
        ? (forest, now) => {
            const last = forest.last_repair ? Date.parse(forest.last_repair) : Number.NaN
            if (Number.isFinite(last) && now.getTime() - last < cooldownMs) {
              cooldownUntil = new Date(last + cooldownMs).toISOString()
              return 'cooldown'
            }
            return undefined
          }
        : undefined,
    )
    .catch((error) => {
      // --auto: another run holding the forest is not an error, it is a reason to wait.
      if (request.auto && error instanceof MorpheusError && error.kind === 'REGISTRY' && /being changed right now/.test(error.message))
        return 'repair_in_progress'
      throw error
    })
  if (refused) {
    return result(
      'cooldown',
      refused,
      refused === 'cooldown'
        ? `${forestId} was repaired recently; the next repair may run after ${cooldownUntil}`
        : `${forestId} is being changed by another run right now`,
      {cooldown_until: cooldownUntil, remaining: dead},
    )
  }
  const replaced: string[] = []
  try {
    for (const id of chosen) {
      const node = work.nodes.find((n) => n.id === id)!
      deps.progress.report(`${id}: replacing its machine (same id and addresses)`)
      await work.replace(node, {graceful: false})
      await work.waitWhole(node, undefined, new Set(dead.filter((d) => d !== id && !replaced.includes(d))))
      replaced.push(id)
    }
    const streams = await waitStreams(work, request)
    await work.release(`repair: replaced ${replaced.join(', ')}`)
    const remaining = dead.filter((id) => !replaced.includes(id))
    return result(
      'repaired',
      null,
      `replaced ${replaced.join(', ')} in ${seconds()}s; ${describeStreams(streams)}${remaining.length > 0 ? `; ${plural(remaining.length, 'node')} left for the next run: ${remaining.join(', ')}` : ''}`,
      {remaining, replaced, streams},
    )
  } catch (error) {
    const outcome = deps.signal.aborted ? 'interrupted' : 'failed'
    await work
      .release(
        `repair ${outcome}: ${error instanceof Error ? error.message : String(error)}${replaced.length > 0 ? ` (replaced: ${replaced.join(', ')})` : ''}`,
      )
      .catch((e) => deps.log.warn(`could not record how the repair of ${forestId} ended: ${(e as Error).message}`))
    throw error
  }
}

async function finishStopped(
  work: NodeReplacement,
  request: RepairRequest,
  result: (status: RepairStatus, reason: string | null, message: string, extra?: Partial<RepairResult>) => RepairResult,
): Promise<RepairResult> {
  await work.claim('repair')
  try {
    for (const node of work.nodes.filter((n) => n.status !== 'active')) await work.waitWhole(node)
    const streams = await waitStreams(work, request)
    await work.release('repair: finished by a re-run')
    return result(
      'repaired',
      null,
      `the stopped repair of ${work.forest.id} is finished: every node answers; ${describeStreams(streams)}`,
      {streams},
    )
  } catch (error) {
    await work.release(`repair failed: ${(error as Error).message}`).catch(() => undefined)
    throw error
  }
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
