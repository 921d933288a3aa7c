// Removing one node from a live forest (`morpheus shrink`), keeping every acked message:
//   1. prepare: refuse before anything is touched when it cannot be done safely (one node left,
//      embedded mode, no system-account user, a node not answering, replica counts that could not
//      be kept without --lower-replicas);
//   2. claim: the forest's operation is `shrink`, the leaving node's status `deleting` (a re-run,
//      after Ctrl-C or a crash, finds that node and goes on with it);
//   3. move: every stream replica on the leaving node moves to the others (src/jetstream moveOff), and
//      every stream is waited for until its replicas are current;
//   4. retire: the node's NATS goes into lame duck mode (Provider.stopNode; the machine itself when
//      the provider has no stopNode), then the system-account user removes it from the JetStream
//      meta group while it is offline;
//   5. remove: the machine (destroyNode), then the node's record.
import type {NatsConnection} from '@nats-io/transport-node'
import {busy, type Busy, type Claim, type Operation} from './runner.js'

import {MorpheusError} from '../errors.js'
import {serverRemove} from '../jetstream/meta.js'
import {listPlacements, moveOff, waitCurrent, type StreamPlacement} from '../jetstream/streams.js'
import type {ClusterAuth, ForestRecord, NodeRecord} from '../plugin-api/index.js'
import {findForest} from '../registry/document.js'
import {UNCHANGED} from '../registry/store.js'
import {plural} from '../words.js'
import {loadProvider, type ForestDeps, type ProviderHandle} from './deps.js'
import {connectNodes} from './reach.js'
import {endpointsOf, nodePorts} from './endpoints.js'
import {operation, sameOperation, staleOperation} from './operation.js'
import {elsewhereError, otherDevice} from './ownership.js'
import {preflight, type NodeView} from './plant.js'
import {RECORD_MS} from './settle.js'
import {hasSystemAccount, loadSystemUser} from './system-user.js'

export interface ShrinkRequest {
  forestId: string
  /** The node to remove; without it the command picks one (the newest) and names it. */
  node?: string
  /** Streams with more replicas than nodes would remain are lowered to that many instead of refused. */
  lowerReplicas?: boolean
}

/** What shrink does (or did) to one stream. */
export interface StreamMove {
  stream: string
  /** Replicas before. */
  replicas: number
  /** Replicas after (lower only with --lower-replicas). */
  replicas_after: number
}

export interface ShrinkResult {
  forest: ForestRecord
  /** The node removed. */
  removed: NodeView
  /** True when the command chose the node (no --node). */
  picked: boolean
  /** The forest's nodes now. */
  nodes: NodeView[]
  /** Streams that had a replica on the removed node. */
  moved: StreamMove[]
  /** True when this run finished a shrink an earlier run had started. */
  resumed: boolean
  seconds: number
}

function nodeNumber(id: string): number {
  const m = /^node-(\d+)$/.exec(id)
  return m ? Number(m[1]) : -1
}

function usage(message: string, hint?: string): MorpheusError {
  return new MorpheusError('USAGE', message, {hint})
}

export class Shrink implements Operation<ShrinkResult> {
  private readonly started = Date.now()
  private claimed = false
  private nc?: NatsConnection
  private moves: StreamMove[] = []

  private constructor(
    readonly deps: ForestDeps,
    readonly handle: ProviderHandle,
    public forest: ForestRecord,
    readonly nodes: NodeRecord[],
    readonly leaving: NodeRecord,
    readonly picked: boolean,
    readonly resumed: boolean,
    readonly systemUser: ClusterAuth,
    readonly lowerReplicas: boolean,
  ) {}

  get remaining(): NodeRecord[] {
    return this.nodes.filter((n) => n.id !== this.leaving.id)
  }

  endpoints(node: NodeRecord) {
    return endpointsOf(this.handle.provider, node, nodePorts(node, this.forest, this.deps.settings.ports))
  }

  /** Everything checked before anything is touched: a refusal says why and changes nothing. */
  static async prepare(deps: ForestDeps, request: ShrinkRequest): Promise<Shrink> {
    const doc = await deps.store.read()
    const forest = findForest(doc, request.forestId)
    const handle = await loadProvider(deps, forest.provider)
    const elsewhere = otherDevice(forest, handle.capabilities, deps.device)
    if (elsewhere) throw elsewhereError(forest, elsewhere, 'removing a node')
    const op = forest.operation
    const resumable =
      op?.kind === 'shrink' && (staleOperation(forest, deps.device) !== undefined || (op.device === deps.device && op.pid === process.pid))
    if (op && !resumable) {
      throw new MorpheusError(
        'REGISTRY',
        `forest ${forest.id} is being changed right now (a ${op.kind} on ${op.device}, started ${op.started_at})`,
        {hint: 'Try again when it has finished.'},
      )
    }
    if (forest.status !== 'active')
      throw usage(`forest ${forest.id} is ${forest.status}; only an active forest can shrink`, `See \`morpheus status ${forest.id}\`.`)
    const nodes = doc.nodes[forest.id] ?? []
    const half = nodes.find((n) => n.status === 'deleting')
    if (half && request.node && request.node !== half.id) {
      throw usage(
        `an earlier shrink of ${forest.id} was removing ${half.id} and did not finish; finish that first`,
        `Run \`morpheus shrink ${forest.id} --node ${half.id}\` (or without --node).`,
      )
    }
    if (!half && nodes.length <= 1)
      throw usage(
        `forest ${forest.id} has ${plural(nodes.length, 'node')}: shrink never goes below one node`,
        `To remove the forest, run \`morpheus teardown ${forest.id}\`.`,
      )
    let leaving = half
    if (!leaving && request.node) {
      leaving = nodes.find((n) => n.id === request.node)
      if (!leaving)
        throw new MorpheusError(
          'NOT_FOUND',
          `forest ${forest.id} has no node ${request.node}; its nodes: ${nodes.map((n) => n.id).join(', ')}`,
        )
    }
    leaving ??= [...nodes].sort((a, b) => nodeNumber(b.id) - nodeNumber(a.id))[0]
    const natsMode = forest.nats_mode ?? handle.provider.natsMode
    if (!hasSystemAccount(natsMode)) {
      throw new MorpheusError(
        'PROVIDER',
        `forest ${forest.id} runs NimsForest's embedded NATS server: it has no system account for Morpheus to remove a server from the JetStream meta group with, and it stops without lame duck mode; nothing was changed`,
        {
          hint: 'Shrink works on system-mode forests (forest.nats_mode: system). An embedded-mode forest keeps its nodes (grow still adds them).',
        },
      )
    }
    const systemUser = await loadSystemUser(deps.secrets, forest.id)
    if (!systemUser) {
      throw new MorpheusError(
        'PROVIDER',
        `forest ${forest.id} has no system-account user in the registry's secret storage, which removing a server from the JetStream meta group needs; nothing was changed`,
        {
          hint: 'Forests planted before Morpheus made that user (or with a registry that keeps no secrets) have none; a one-node forest gets one when it grows. See docs/shrink.md.',
        },
      )
    }
    await preflight(handle, deps.signal)
    const shrink = new Shrink(
      deps,
      handle,
      forest,
      nodes,
      leaving,
      !request.node && !half,
      Boolean(half),
      systemUser,
      Boolean(request.lowerReplicas),
    )
    try {
      await shrink.check()
    } catch (error) {
      await shrink.close()
      throw error
    }
    return shrink
  }

  /** Every other node answers; the JetStream placements allow the removal (or --lower-replicas). */
  private async check(): Promise<void> {
    const {deps, forest} = this
    const others = this.remaining
    const health = await deps.monitor(
      others.map((n) => this.endpoints(n).monitor),
      5000,
    )
    const down = others.filter((_, i) => !health[i].healthy)
    if (down.length > 0) {
      throw new MorpheusError(
        'PROVIDER',
        `${down.map((n) => n.id).join(', ')} of forest ${forest.id} ${down.length === 1 ? 'does' : 'do'} not answer as healthy: shrink removes a node only from a healthy forest; nothing was changed`,
        {
          hint: `Check it with \`morpheus status ${forest.id}\`.`,
        },
      )
    }
    this.nc = await this.connect()
    const placements = await listPlacements(this.nc)
    const left = others.length
    const tooMany = placements.filter((p) => p.peers.some((r) => r.server === this.leaving.id) && p.replicas > left)
    if (tooMany.length > 0 && !this.lowerReplicas) {
      await this.close()
      const names = tooMany.map((p) => `${p.name} (R${p.replicas})`).join(', ')
      throw usage(
        `removing ${this.leaving.id} would leave ${plural(left, 'node')} for ${tooMany.length === 1 ? 'stream' : 'streams'} ${names}: their replica counts could not be kept; nothing was changed`,
        `Pass --lower-replicas to lower them to ${left}, or grow the forest first.`,
      )
    }
    this.moves = placements
      .filter((p) => p.peers.some((r) => r.server === this.leaving.id))
      .map((p) => ({replicas: p.replicas, replicas_after: Math.min(p.replicas, left), stream: p.name}))
  }

  /** Streams that will move (known after prepare). */
  get plannedMoves(): readonly StreamMove[] {
    return this.moves
  }

  private connect(options: {auth?: ClusterAuth; name: string} = {name: 'morpheus shrink'}): Promise<NatsConnection> {
    const access = this.deps.jetstream
    return access
      ? connectNodes({...this.deps, jetstream: access}, this.handle, this.forest, this.remaining, options)
      : Promise.reject(new MorpheusError('UNEXPECTED', 'shrink needs the JetStream client (deps.jetstream)'))
  }

  /** The operation and the leaving node's status in one compare-and-swap (busy: another operation is recorded). */
  async claim(): Promise<Claim> {
    if (this.deps.signal.aborted) throw new MorpheusError('INTERRUPTED', 'interrupted before anything was changed')
    const op = operation('shrink', this.deps.device)
    const id = this.forest.id
    const leaving = this.leaving.id
    let other: Busy | undefined
    await this.deps.store.update(
      (doc) => {
        other = undefined
        const forest = findForest(doc, id)
        if (sameOperation(forest.operation, op)) return UNCHANGED
        // A shrink left recorded by a run that stopped is this one's to finish (prepare() resumed it).
        if (forest.operation && forest.operation.kind !== 'shrink') {
          other = busy(forest.operation)
          return UNCHANGED
        }
        const node = (doc.nodes[id] ?? []).find((n) => n.id === leaving)
        if (!node) throw new MorpheusError('REGISTRY', `node ${leaving} vanished from the registry while shrink was starting`)
        forest.operation = op
        node.status = 'deleting'
        return true
      },
      {now: true},
    )
    if (other) return other
    this.claimed = true
    return {kind: 'claimed'}
  }

  /** The runner's two phases: the replicas move (create), the node retires from the meta group (wait). */
  titles(): {create: string; wait: string} {
    const node = this.leaving.id
    return {
      create: `Moving ${node}'s replicas to the other nodes`,
      wait: `Stopping ${node} (lame duck) and removing it from the JetStream meta group`,
    }
  }

  create(): Promise<void> {
    return this.move()
  }

  waitFormed(): Promise<void> {
    return this.retire()
  }

  finish(): Promise<ShrinkResult> {
    return this.remove()
  }

  settle(error: unknown): Promise<MorpheusError> {
    return this.abandon(error)
  }

  private report(message: string): void {
    this.deps.progress.report(message)
  }

  /** Ctrl-C stops the shrink at the next step: what is done stays done, the rest is for a re-run. */
  private checkAbort(what: string): void {
    if (this.deps.signal.aborted) throw new MorpheusError('INTERRUPTED', `interrupted ${what}`)
  }

  private get timeoutMs(): number {
    return Math.max(30, this.deps.settings.form_timeout_seconds) * 1000
  }

  /** Move every replica off the leaving node; wait until every stream's replicas are current. */
  async move(): Promise<void> {
    this.checkAbort('before moving replicas')
    const nc = (this.nc ??= await this.connect())
    const left = this.remaining.length
    const away = this.leaving.id
    // Streams created meanwhile may land on the leaving node: look again until none is there.
    for (let round = 0; ; round++) {
      const placements: StreamPlacement[] = await listPlacements(nc)
      const there = placements.filter((p) => p.peers.some((r) => r.server === away))
      if (there.length === 0) break
      if (round >= 3)
        throw new MorpheusError('NOT_FORMED', `streams keep getting replicas on ${away}: ${there.map((p) => p.name).join(', ')}`, {
          hint: 'Run the shrink again.',
        })
      for (const p of there) {
        if (this.deps.signal.aborted) throw new MorpheusError('INTERRUPTED', 'interrupted while moving replicas')
        if (p.replicas > left && !this.lowerReplicas)
          throw usage(`stream ${p.name} (R${p.replicas}) cannot keep its replicas on ${plural(left, 'node')}`, 'Pass --lower-replicas.')
        if (!this.moves.some((m) => m.stream === p.name))
          this.moves.push({replicas: p.replicas, replicas_after: Math.min(p.replicas, left), stream: p.name})
        this.report(`${p.name}: moving its replica${p.replicas === 1 ? '' : 's'} off ${away}`)
        await moveOff(nc, p.name, away, {
          lowerTo: p.replicas > left ? left : undefined,
          progress: (m) => this.report(m),
          signal: this.deps.signal,
          timeoutMs: this.timeoutMs,
        })
      }
    }
    await waitCurrent(nc, {away, progress: (m) => this.report(m), signal: this.deps.signal, timeoutMs: this.timeoutMs})
    this.report(`every stream's replicas are current on ${plural(left, 'node')} without ${away}`)
  }

  /** Lame duck mode, offline, then out of the JetStream meta group. */
  async retire(): Promise<void> {
    const {provider} = this.handle
    const node = this.leaving
    this.checkAbort(`before stopping ${node.id}`)
    if (provider.stopNode) {
      this.report(`${node.id}: lame duck mode (it hands over its leaders and closes its clients)`)
      await provider.stopNode({...node}, this.forest, this.deps.signal)
    } else {
      this.report(`${node.id}: removing its machine (provider ${this.handle.name} has no lame duck stop)`)
      await provider.destroyNode({...node}, this.forest, this.deps.signal)
    }
    this.checkAbort(`while ${node.id} was stopping`)
    const monitor = this.endpoints(node).monitor
    await this.until(`${node.id} to stop answering`, async () => !(await this.deps.monitor([monitor], 1000))[0].reachable)
    const admin = await this.connect({auth: this.systemUser, name: 'morpheus shrink (system account)'})
    try {
      let removed = false
      await this.until(`the JetStream meta group to remove ${node.id}`, async () => {
        try {
          removed = (await serverRemove(admin, node.id, 5000)) || removed
          return true
        } catch {
          return false // no meta leader for a moment (it may have been the leaving node)
        }
      })
      this.report(removed ? `${node.id}: removed from the JetStream meta group` : `${node.id}: not in the JetStream meta group (any more)`)
    } finally {
      await admin.close().catch(() => undefined)
    }
  }

  private async until(what: string, check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + this.timeoutMs
    for (;;) {
      if (await check()) return
      if (this.deps.signal.aborted) throw new MorpheusError('INTERRUPTED', `interrupted while waiting for ${what}`)
      if (Date.now() > deadline)
        throw new MorpheusError('NOT_FORMED', `waited ${this.timeoutMs / 1000}s for ${what}`, {
          hint: `Run \`morpheus shrink ${this.forest.id}\` again to go on.`,
        })
      await new Promise((r) => setTimeout(r, 250))
    }
  }

  /** The machine, then the record (and the forest's node count), the operation cleared. */
  async remove(): Promise<ShrinkResult> {
    const node = this.leaving
    this.checkAbort(`before removing ${node.id}'s machine`)
    this.report(`${node.id}: removing its machine`)
    await this.handle.provider.destroyNode({...node}, this.forest, this.deps.signal)
    const id = this.forest.id
    const {doc} = await this.deps.store.update(
      (d) => {
        const forest = findForest(d, id)
        d.nodes[id] = (d.nodes[id] ?? []).filter((n) => n.id !== node.id)
        forest.node_count = d.nodes[id].length
        forest.operation = null
        return true
      },
      {now: true},
    )
    await this.close()
    this.forest = doc.forests[id]
    const view = (n: NodeRecord): NodeView => ({...n, ...this.endpoints(n)})
    return {
      forest: this.forest,
      moved: this.moves,
      nodes: (doc.nodes[id] ?? []).map(view),
      picked: this.picked,
      removed: view(node),
      resumed: this.resumed,
      seconds: Math.round((Date.now() - this.started) / 100) / 10,
    }
  }

  /** A shrink that did not finish: the node stays `deleting`, the operation is cleared, the error says how to finish. */
  async abandon(error: unknown): Promise<MorpheusError> {
    await this.close()
    const e =
      error instanceof MorpheusError ? error : new MorpheusError('UNEXPECTED', (error as Error)?.message ?? String(error), {cause: error})
    if (!this.claimed) return e
    const outcome = this.deps.signal.aborted ? 'interrupted' : 'failed'
    const id = this.forest.id
    this.deps.store.within(AbortSignal.timeout(RECORD_MS))
    try {
      await this.deps.store.update(
        (d) => {
          const forest = d.forests[id]
          if (!forest) return UNCHANGED
          forest.operation = null
          forest.note = `shrink ${outcome} while removing ${this.leaving.id}: ${e.message}`.slice(0, 300)
          return true
        },
        {now: true},
      )
    } catch (writeError) {
      this.deps.log.warn(`could not record how the shrink of ${id} ended: ${(writeError as Error).message}`)
    } finally {
      this.deps.store.within(undefined)
    }
    const again = `Run \`morpheus shrink ${id}\` again to finish removing ${this.leaving.id} (it goes on where this run stopped).`
    if (outcome === 'interrupted')
      return new MorpheusError('INTERRUPTED', `interrupted: ${this.leaving.id} of ${id} is recorded as being removed`, {
        details: {forest_id: id, node_id: this.leaving.id},
        hint: again,
      })
    return new MorpheusError(e.kind, e.message, {
      cause: error,
      details: {...e.details, forest_id: id, node_id: this.leaving.id},
      hint: e.hint ? `${e.hint} ${again}` : again,
    })
  }

  async close(): Promise<void> {
    const nc = this.nc
    this.nc = undefined
    await nc?.close().catch(() => undefined)
  }
}
