import {MorpheusError} from '../errors.js'
import {isFormed, type NodeHealth} from '../monitor/nats.js'
import {jetstreamEnabled, lookAtStreams, type StreamView} from '../monitor/streams.js'
import type {ClusterAuth, ForestOperation, ForestRecord, NatsMode, NodeRecord, NodeVersions} from '../plugin-api/index.js'
import {sleep} from '../plugins/helpers.js'
import {findForest} from '../registry/document.js'
import {UNCHANGED} from '../registry/store.js'
import {addressFields} from './batch.js'
import {loadProvider, type ForestDeps, type ProviderHandle} from './deps.js'
import {endpointsOf, nodePorts} from './endpoints.js'
import {operation, sameOperation, staleHint, staleOperation} from './operation.js'
import {elsewhereError, otherDevice} from './ownership.js'
import {chooseNatsMode, loadClusterAuth, preflight} from './plant.js'
import {busy, type Busy, type Claimed, type Refused} from './runner.js'
import {RECORD_MS} from './settle.js'
import {hasSystemAccount, loadSystemUser} from './system-user.js'

/** What claiming a forest for repair or upgrade came to; busy carries the error a command ends with. */
export type ReplaceClaim = Claimed | Refused | (Busy & {error: MorpheusError})

/**
 * What repair and upgrade share: a forest whose nodes are replaced one at a time, in place (same
 * id, same addresses: Provider.replaceNode), each waited for until the forest is whole again and
 * every replicated stream has all its replicas current.
 */
export class NodeReplacement {
  nodes: NodeRecord[]
  clusterAuth: ClusterAuth | null = null
  /** The forest's system-account user (system mode; null on forests planted before it existed): a replaced node keeps it. */
  systemUser: ClusterAuth | null = null
  private op?: ForestOperation

  constructor(
    readonly deps: ForestDeps,
    readonly handle: ProviderHandle,
    public forest: ForestRecord,
    nodes: readonly NodeRecord[],
    readonly natsMode: NatsMode,
  ) {
    this.nodes = nodes.map((n) => ({...n}))
  }

  /** The forest, its provider, checked: ours to change here, and a provider that can replace machines. */
  static async open(deps: ForestDeps, forestId: string, kind: 'repair' | 'upgrade'): Promise<NodeReplacement> {
    const doc = await deps.store.read()
    const forest = findForest(doc, forestId)
    const handle = await loadProvider(deps, forest.provider)
    const elsewhere = otherDevice(forest, handle.capabilities, deps.device)
    if (elsewhere) throw elsewhereError(forest, elsewhere, kind === 'repair' ? 'repairing it' : 'upgrading it')
    const resumable = forest.operation?.kind === kind && staleOperation(forest, deps.device)
    if (forest.status !== 'active' && !resumable) {
      throw new MorpheusError(
        'USAGE',
        `forest ${forest.id} is ${forest.status}; only an active forest can be ${kind === 'repair' ? 'repaired' : 'upgraded'}`,
        {hint: `See \`morpheus status ${forest.id}\`.`},
      )
    }
    if (!handle.provider.replaceNode) {
      throw new MorpheusError(
        'PROVIDER',
        `provider ${handle.name} cannot replace a node's machine (it has no replaceNode), so ${kind} cannot change forest ${forest.id}`,
        {
          hint: 'Use a provider that can (local, hetzner), or replace the node by hand.',
        },
      )
    }
    await preflight(handle, deps.signal)
    const natsMode = forest.nats_mode ?? chooseNatsMode(handle, deps.settings.nats_mode)
    return new NodeReplacement(deps, handle, forest, doc.nodes[forestId] ?? [], natsMode)
  }

  monitorOf(node: NodeRecord): string {
    const ports = nodePorts(node, this.forest, this.deps.settings.ports)
    try {
      return endpointsOf(this.handle.provider, node, ports).monitor
    } catch {
      return endpointsOf(undefined, node, ports).monitor
    }
  }

  look(timeoutMs = 2000): Promise<NodeHealth[]> {
    return this.deps.monitor(
      this.nodes.map((n) => this.monitorOf(n)),
      timeoutMs,
    )
  }

  streams(timeoutMs = 3000) {
    return lookAtStreams(
      this.nodes.map((n) => ({monitor: this.monitorOf(n), name: n.id})),
      timeoutMs,
    )
  }

  /**
   * Claim the forest for this operation in one compare-and-swap. A stopped operation of the same
   * kind (its process is gone) is taken over: a re-run finishes the job; another operation makes it
   * busy. `guard` runs inside the compare-and-swap against the forest as it is then: a string
   * refuses, and nothing is written.
   */
  async claim(
    kind: 'repair' | 'upgrade',
    change: (forest: ForestRecord, now: Date) => void = () => undefined,
    guard?: (forest: ForestRecord, now: Date) => string | undefined,
  ): Promise<ReplaceClaim> {
    if (this.deps.signal.aborted) throw new MorpheusError('INTERRUPTED', 'interrupted before anything was changed')
    const now = new Date()
    const op = operation(kind, this.deps.device, now)
    const id = this.forest.id
    let refusal: string | undefined
    let other: ReplaceClaim | undefined
    const {result} = await this.deps.store.update(
      (doc) => {
        refusal = undefined
        other = undefined
        const forest = findForest(doc, id)
        if (sameOperation(forest.operation, op)) return {forest, nodes: doc.nodes[id] ?? []}
        if (forest.operation) {
          const stale = staleOperation(forest, this.deps.device)
          if (!(stale && stale.kind === kind)) {
            const error = new MorpheusError(
              'REGISTRY',
              `forest ${id} is being changed right now (a ${forest.operation.kind} on ${forest.operation.device}, started ${forest.operation.started_at})`,
              {
                hint: stale ? staleHint(forest) : 'Try again when it has finished.',
              },
            )
            other = {...busy(forest.operation), error}
            return UNCHANGED
          }
          this.deps.log.warn(
            `taking over the ${kind} of ${id} that stopped before it finished (started ${forest.operation.started_at} by pid ${forest.operation.pid})`,
          )
        }
        refusal = guard?.(forest, now)
        if (refusal) return UNCHANGED
        forest.operation = op
        change(forest, now)
        return {forest, nodes: doc.nodes[id] ?? []}
      },
      {now: true},
    )
    if (other) return other
    if (refusal || !result) return {kind: 'refused', reason: refusal ?? 'refused'}
    this.op = op
    this.forest = result.forest
    this.nodes = result.nodes.map((n) => ({...n}))
    this.clusterAuth = await loadClusterAuth(this.deps.secrets, id)
    if (hasSystemAccount(this.natsMode)) this.systemUser = await loadSystemUser(this.deps.secrets, id)
    return {kind: 'claimed'}
  }

  /** Write changes of nodes (by id) and of the forest at once. */
  async record(nodes: Record<string, Partial<NodeRecord>>, forest?: (f: ForestRecord) => void): Promise<void> {
    for (const n of this.nodes) if (nodes[n.id]) Object.assign(n, nodes[n.id])
    const id = this.forest.id
    const {doc} = await this.deps.store.update(
      (d) => {
        const f = d.forests[id]
        if (!f) throw new MorpheusError('REGISTRY', `forest ${id} vanished from the registry while it was being changed`)
        for (const n of d.nodes[id] ?? []) if (nodes[n.id]) Object.assign(n, nodes[n.id])
        forest?.(f)
        return true
      },
      {now: true},
    )
    this.forest = doc.forests[id] ?? this.forest
  }

  /**
   * A new machine for `node` (same id and addresses), recorded as it goes: creating before the
   * provider is called (a machine may be half made), starting once it answers.
   */
  async replace(node: NodeRecord, options: {graceful: boolean; versions?: NodeVersions}): Promise<NodeRecord> {
    if (this.deps.signal.aborted) throw new MorpheusError('INTERRUPTED', `interrupted before ${node.id} was replaced`)
    await this.record({[node.id]: {status: 'creating'}})
    const current = this.nodes.find((n) => n.id === node.id)!
    const versions = options.versions ?? this.forest.versions
    const made = await this.handle.provider.replaceNode!({
      cluster: this.nodes.length > 1,
      clusterAuth: this.clusterAuth,
      forest: this.forest,
      graceful: options.graceful,
      natsMode: this.natsMode,
      node: {...current},
      peers: this.nodes.filter((n) => n.id !== node.id && n.ip),
      ports: nodePorts(current, this.forest, this.deps.settings.ports),
      progress: (m) => this.deps.progress.report(`${node.id}: ${m}`),
      signal: this.deps.signal,
      systemUser: this.systemUser,
      ...(versions ? {versions} : {}),
    })
    await this.record({[node.id]: {...addressFields(made ?? {}), ...(made?.versions ? {versions: made.versions} : {}), status: 'starting'}})
    return this.nodes.find((n) => n.id === node.id)!
  }

  /**
   * Wait until `node` answers /healthz?js-enabled-only=true and the whole forest has formed again
   * (every node healthy, all routes, one JetStream leader); the node is then recorded active.
   */
  async waitWhole(
    node: NodeRecord,
    seconds = this.deps.settings.form_timeout_seconds,
    stillDead: ReadonlySet<string> = new Set(),
  ): Promise<void> {
    const deadline = Date.now() + seconds * 1000
    const monitor = this.monitorOf(node)
    let last = ''
    for (;;) {
      this.checkAbort()
      const [js, all] = await Promise.all([jetstreamEnabledOr(monitor, this.deps), this.look(1000)])
      // Nodes still dead (to be replaced next) are left out: the others must route to each other.
      const health = all.filter((_, i) => !stillDead.has(this.nodes[i].id))
      const line = all
        .map(
          (h, i) =>
            `${this.nodes[i].id} ${h.healthy ? `${h.routes}/${health.length - 1} routes` : h.reachable ? 'starting' : 'not answering'}`,
        )
        .join(', ')
      if (line !== last) this.deps.progress.report((last = line))
      if (js && isFormed(health)) break
      if (Date.now() > deadline) {
        throw new MorpheusError(
          'NOT_FORMED',
          `${node.id} was replaced, but forest ${this.forest.id} did not form again within ${seconds}s: ${line}`,
          {
            details: {forest_id: this.forest.id, node_id: node.id},
            hint: `Inspect it with \`morpheus status ${this.forest.id}\`, then run the command again: it goes on from here.`,
          },
        )
      }
      await this.pause()
    }
    await this.record({[node.id]: {status: 'active'}})
  }

  /** Wait until every stream with more than one replica has all of them current (judged from each stream's leader). */
  async waitStreamsCurrent(seconds: number, look = (ms: number) => this.streams(ms)): Promise<StreamView[]> {
    const deadline = Date.now() + seconds * 1000
    let last = ''
    for (;;) {
      this.checkAbort()
      const {streams} = await look(3000)
      const behind = streams.filter((s) => s.replicas > 1 && !s.current)
      const line =
        behind.length === 0
          ? `${streams.filter((s) => s.replicas > 1).length} replicated stream(s) current`
          : `waiting for ${behind.map((s) => `${s.name} (${describeStream(s)})`).join(', ')}`
      if (line !== last) this.deps.progress.report((last = line))
      if (behind.length === 0) return streams
      if (Date.now() > deadline) {
        throw new MorpheusError(
          'NOT_FORMED',
          `the streams of ${this.forest.id} did not get all their replicas current within ${seconds}s: ${behind.map((s) => `${s.name}: ${describeStream(s)}`).join('; ')}`,
          {
            details: {forest_id: this.forest.id, streams: behind.map((s) => s.name)},
            hint: `Run the command again to wait longer; \`morpheus status ${this.forest.id}\` shows the nodes.`,
          },
        )
      }
      await this.pause()
    }
  }

  private checkAbort(): void {
    if (this.deps.signal.aborted)
      throw new MorpheusError(
        'INTERRUPTED',
        `interrupted: forest ${this.forest.id} is recorded as it stands; run the command again to finish`,
        {details: {forest_id: this.forest.id}},
      )
  }

  private async pause(): Promise<void> {
    try {
      await sleep(Math.max(this.deps.pollMs ?? 250, 100), this.deps.signal)
    } catch {
      this.checkAbort()
    }
  }

  /**
   * The end, whatever it was: the operation cleared (on a clock of its own, never the Ctrl-C's
   * signal), `note` recorded, `change` applied to the forest. Nodes keep their last recorded status.
   */
  async release(note: string | null, change: (forest: ForestRecord) => void = () => undefined): Promise<void> {
    if (!this.op) return
    const op = this.op
    const id = this.forest.id
    this.deps.store.within(AbortSignal.timeout(RECORD_MS))
    try {
      const {doc} = await this.deps.store.update(
        (d) => {
          const f = d.forests[id]
          if (!f || !sameOperation(f.operation, op)) return UNCHANGED
          f.operation = null
          if (note) f.note = note.slice(0, 300)
          change(f)
          return true
        },
        {now: true},
      )
      await this.deps.store.flush()
      this.forest = doc.forests[id] ?? this.forest
      this.op = undefined
    } finally {
      this.deps.store.within(undefined)
    }
  }
}

function jetstreamEnabledOr(monitor: string, deps: ForestDeps): Promise<boolean> {
  // A test monitor (mem://...) has no HTTP: its health answer stands for this check too.
  return monitor.startsWith('http') ? jetstreamEnabled(monitor) : deps.monitor([monitor], 1000).then(([h]) => h.healthy)
}

export function describeStream(s: StreamView): string {
  if (!s.leader) return 'no leader'
  const current = s.followers.filter((f) => f.current && !f.offline).length + 1
  return `${current}/${s.replicas} current${
    s.followers.some((f) => !f.current)
      ? `, behind: ${s.followers
          .filter((f) => !f.current)
          .map((f) => f.name)
          .join(', ')}`
      : ''
  }`
}
