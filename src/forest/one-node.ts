// Growing a forest of one node keeps its JetStream data.
//
// A one-node forest runs JetStream standalone; when it becomes a cluster, the new meta group does not
// adopt the streams the server held before (they stay on its disk, unreachable). So before node-1 is
// turned into a cluster (or made again by its provider), its streams are carried over, through the
// client port only (provider-neutral):
//   1. writes stop: each stream's subjects are swapped for a private one, so publishes find no stream
//      and fail (never acked); nothing is lost, the writers retry;
//   2. each stream is snapshotted (messages and consumers, checksums checked), kept in memory and in
//      a 0600 file under Morpheus's data directory, and then deleted on node-1 (a clustered server
//      must not find a same-named stream of its standalone past on its disk);
//   3. node-1 restarts as a cluster member and the new nodes join (grow as before);
//   4. each snapshot is restored into the cluster's meta group, its subjects given back, and its
//      message count checked against the snapshot's.
// A failure after step 2 (Ctrl-C included) tries the restore again wherever JetStream answers (node-1
// alone again, once it has booted), for up to forest.form_timeout_seconds; what still fails keeps its
// snapshot files, and the next grow of the forest on this device restores them: into node-1 before
// it carries (step 1), or into the cluster when node-1 is a member already (restorePending).
import {chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {NatsConnection} from '@nats-io/transport-node'

import {MorpheusError} from '../errors.js'
import {api, API_PREFIX, ERR, isJetStreamError} from '../jetstream/api.js'
import type {JetStreamAccess} from '../jetstream/connect.js'
import {restoreStream, snapshotStream, type StreamSnapshot} from '../jetstream/snapshot.js'
import {streamInfo, streamInfos, type StreamConfig} from '../jetstream/streams.js'
import type {ForestRecord, NodeRecord} from '../plugin-api/index.js'
import type {ForestDeps, ProviderHandle} from './deps.js'
import {endpointsOf, nodePorts} from './endpoints.js'
import {connectNodes} from './reach.js'

interface Saved {
  snapshot: StreamSnapshot
  /** The stream's config before writes were stopped (what the cluster gets). */
  original: StreamConfig
}

const FROZEN = 'morpheus-carrying'

function refuse(forest: ForestRecord, why: string, hint: string): MorpheusError {
  return new MorpheusError(
    'PROVIDER',
    `forest ${forest.id} runs on one node and its JetStream data could not be kept if it grew: ${why}; nothing was changed`,
    {details: {forest_id: forest.id}, hint},
  )
}

async function varz(
  monitor: string,
  signal: AbortSignal,
): Promise<{cluster?: {name?: string}; jetstream?: {config?: unknown; meta?: unknown}} | undefined> {
  try {
    const response = await fetch(`${monitor}/varz`, {signal: AbortSignal.any([signal, AbortSignal.timeout(5000)])})
    return response.ok ? ((await response.json()) as {jetstream?: {meta?: unknown}}) : undefined
  } catch {
    return undefined
  }
}

/** The provider can neither restart node-1 with a cluster block nor make its machine again: a one-node forest cannot grow. */
export function cannotCluster(handle: ProviderHandle, forest: ForestRecord, tail = ''): MorpheusError {
  return new MorpheusError(
    'PROVIDER',
    `provider ${handle.name} cannot turn the one-node forest ${forest.id} into a cluster (it has neither reconfigureNode nor replaceNode)${tail}`,
    {hint: 'Plant a new forest with three nodes instead, or use a provider that can.'},
  )
}

/**
 * What grow learns of the one node of a forest before it claims it: its JetStream data to carry
 * (absent: nothing to carry), and whether it runs with a cluster block already (a forest shrunk to
 * one node; new nodes then join it as it is, and a provider that would make its machine again must
 * not, or the streams only it holds would be gone).
 */
export interface OneNodeLook {
  carry?: OneNodeData
  clustered: boolean
}

/**
 * The JetStream data of the one node of a forest, carried into the cluster it becomes. check() is
 * called before the forest is claimed: it refuses (exit 5) when the data cannot be kept, and returns
 * undefined when there is nothing to carry (node-1 is a cluster member already, or JetStream is off).
 */
export class OneNodeData {
  private saved: Saved[] = []
  private nc?: NatsConnection

  private constructor(
    readonly deps: ForestDeps & {jetstream: JetStreamAccess},
    readonly handle: ProviderHandle,
    readonly forest: ForestRecord,
    readonly node: NodeRecord,
  ) {}

  static async check(deps: ForestDeps, handle: ProviderHandle, forest: ForestRecord, node: NodeRecord): Promise<OneNodeLook> {
    if (!handle.provider.reconfigureNode && !handle.provider.replaceNode) throw cannotCluster(handle, forest, '; nothing was changed')
    if (!deps.jetstream) return {clustered: false}
    const mode = forest.nats_mode ?? handle.provider.natsMode
    if (mode === 'embedded') {
      throw refuse(
        forest,
        "its NATS server is NimsForest's embedded one, whose configuration Morpheus does not write and whose JetStream data it cannot reach to move",
        'Plant a forest of three nodes for data that must survive growth (embedded mode cannot carry a standalone node into a cluster).',
      )
    }
    const ports = nodePorts(node, forest, deps.settings.ports)
    const {monitor} = endpointsOf(handle.provider, node, ports)
    const info = await varz(monitor, deps.signal)
    if (!info) throw refuse(forest, `${node.id} does not answer on ${monitor}`, `Check it with \`morpheus status ${forest.id}\`.`)
    const clustered = Boolean(info.cluster?.name)
    if (!info.jetstream?.config) return {clustered}
    // Already a cluster member (a forest shrunk to one node): the new node joins it, nothing to carry.
    if (info.jetstream.meta) return {clustered: true}
    const carry = new OneNodeData(deps as ForestDeps & {jetstream: JetStreamAccess}, handle, forest, node)
    try {
      carry.nc = await connectNodes(carry.deps, handle, forest, [node], {name: 'morpheus grow'})
      await streamInfos(carry.nc)
    } catch (error) {
      await carry.close()
      throw refuse(
        forest,
        `its JetStream API cannot be reached (${(error as Error).message})`,
        (error as MorpheusError).hint ??
          "Morpheus carries the data over the node's client port (through SSH on a cloud): see `morpheus status` for the node.",
      )
    }
    return {carry, clustered: false}
  }

  private get dir(): string {
    return join(this.deps.jetstream.snapshotDir, this.forest.id)
  }

  private report(message: string): void {
    this.deps.progress.report(`${this.node.id}: ${message}`)
  }

  /** Steps 1 and 2: stop writes, snapshot every stream (kept on disk), delete it on node-1. */
  async save(): Promise<void> {
    try {
      await this.saveAll(this.nc!)
    } finally {
      // node-1 restarts next: this connection has done its work (an open one would keep the CLI alive).
      await this.close()
    }
  }

  private async saveAll(nc: NatsConnection): Promise<void> {
    // Streams an earlier grow carried out and could not give back (Ctrl-C, a node that came back
    // late): into node-1 first, so they are carried with the others (and their files not overwritten).
    const kept = readKept(this.dir)
    if (kept.length > 0) {
      this.report(`restoring ${kept.length} stream${kept.length === 1 ? '' : 's'} an earlier grow kept in ${this.dir}`)
      await restoreInto(this.deps, nc, kept, (m) => this.report(m))
      rmSync(this.dir, {force: true, recursive: true})
    }
    const infos = await streamInfos(nc)
    if (infos.length === 0) return void this.report('no JetStream streams to carry')
    mkdirSync(this.dir, {mode: 0o700, recursive: true})
    chmodSync(this.dir, 0o700)
    this.report(`stopping writes to ${infos.length} stream${infos.length === 1 ? '' : 's'} while they are carried into the cluster`)
    for (const info of infos) {
      if (!info.config.subjects?.length) continue
      await api(nc, `${API_PREFIX}.STREAM.UPDATE.${info.config.name}`, {...info.config, subjects: [`${FROZEN}.${info.config.name}`]})
    }
    for (const info of infos) {
      const snapshot = await snapshotStream(nc, info.config.name)
      const saved = {original: info.config, snapshot}
      const file = join(this.dir, info.config.name)
      writeFileSync(`${file}.snapshot`, snapshot.data, {mode: 0o600})
      writeFileSync(`${file}.json`, JSON.stringify({config: snapshot.config, original: info.config, state: snapshot.state}), {mode: 0o600})
      this.saved.push(saved)
      this.report(
        `${info.config.name}: snapshot of ${snapshot.state.messages} message${snapshot.state.messages === 1 ? '' : 's'} (${snapshot.data.length} bytes)`,
      )
    }
    for (const {original} of this.saved) await api(nc, `${API_PREFIX}.STREAM.DELETE.${original.name}`)
  }

  /** Step 4: restore every snapshot into the cluster, give each its subjects back, check its count. */
  async restore(nodes: readonly NodeRecord[]): Promise<void> {
    if (this.saved.length === 0) return
    await restoreThrough(this.deps, this.handle, this.forest, nodes, this.saved, (m) => this.report(m))
    rmSync(this.dir, {force: true, recursive: true})
  }

  /**
   * The grow failed: when node-1's streams were saved and not all restored, try once more to restore
   * them wherever JetStream answers now (node-1 alone again, or the cluster); what cannot be restored
   * stays on disk and the error says where and how it comes back.
   */
  async settle(error: MorpheusError, nodes: readonly NodeRecord[]): Promise<MorpheusError> {
    await this.close()
    const dir = this.keptAt
    if (!dir) return error
    // node-1 may have just been made again (a cloud): it answers once it has booted. Tried until
    // forest.form_timeout_seconds have passed (on a clock of its own: a Ctrl-C has fired already).
    const deadline = Date.now() + (this.deps.settings.form_timeout_seconds ?? 120) * 1000
    for (let attempt = 1; ; attempt++) {
      try {
        // Each try on a signal of its own: the command's fired with the Ctrl-C.
        const deps = {...this.deps, signal: AbortSignal.timeout(60_000)}
        await restoreThrough(deps, this.handle, this.forest, nodes, this.saved, (m) => this.report(m), 3)
        rmSync(dir, {force: true, recursive: true})
        return error
      } catch (restoreError) {
        // A stream restored with other contents than its snapshot's is not a matter of waiting.
        if (Date.now() > deadline || (restoreError as MorpheusError).kind === 'UNEXPECTED') break
        if (attempt === 1) this.report(`waiting for JetStream to answer to give its streams back (${(restoreError as Error).message})`)
        await new Promise((r) => setTimeout(r, 2000))
      }
    }
    return new MorpheusError(
      error.kind,
      `${error.message}; node-1's JetStream streams are kept in ${dir} (snapshots taken before it changed)`,
      {
        cause: error,
        details: {...error.details, snapshots: dir},
        hint: `Run \`morpheus grow ${this.forest.id}\` again on this device: it restores them first. ${error.hint ?? ''}`.trim(),
      },
    )
  }

  async close(): Promise<void> {
    const nc = this.nc
    this.nc = undefined
    await nc?.close().catch(() => undefined)
  }

  /** Where the snapshots are kept until the restore has succeeded. */
  get keptAt(): string | undefined {
    return this.saved.length > 0 ? this.dir : undefined
  }
}

async function restoreInto(
  deps: ForestDeps,
  nc: NatsConnection,
  saved: readonly Saved[],
  report: (m: string) => void,
  tries = 10,
): Promise<void> {
  for (const {original, snapshot} of saved) {
    const name = original.name
    let found = false
    try {
      await streamInfo(nc, name)
      found = true // an earlier run restored it (and writers may have added to it since)
    } catch (error) {
      if (!isJetStreamError(error, ERR.STREAM_NOT_FOUND)) throw error
    }
    if (!found) {
      // The meta leader may still be settling right after the cluster formed: a few tries.
      for (let attempt = 1; ; attempt++) {
        try {
          await restoreStream(nc, snapshot)
          break
        } catch (error) {
          if (attempt >= tries || deps.signal.aborted) throw error
          await new Promise((r) => setTimeout(r, 1000))
        }
      }
    }
    const info = await streamInfo(nc, name)
    if (JSON.stringify(info.config.subjects ?? []) !== JSON.stringify(original.subjects ?? [])) {
      await api(nc, `${API_PREFIX}.STREAM.UPDATE.${name}`, {...info.config, subjects: original.subjects})
    }
    // Restored now: exactly the snapshot. Found restored: at least the snapshot (written to since).
    const short = found
      ? info.state.last_seq < snapshot.state.last_seq
      : info.state.messages !== snapshot.state.messages || info.state.last_seq !== snapshot.state.last_seq
    if (short) {
      throw new MorpheusError(
        'UNEXPECTED',
        `stream ${name} was restored with ${info.state.messages} messages (last ${info.state.last_seq}); its snapshot had ${snapshot.state.messages} (last ${snapshot.state.last_seq})`,
      )
    }
    report(`${name}: restored in the cluster, ${info.state.messages} message${info.state.messages === 1 ? '' : 's'}`)
  }
}

/** restoreInto through a connection to `nodes` (each through its provider's tunnel), closed afterwards. */
async function restoreThrough(
  deps: ForestDeps & {jetstream: JetStreamAccess},
  handle: ProviderHandle,
  forest: ForestRecord,
  nodes: readonly NodeRecord[],
  saved: readonly Saved[],
  report: (m: string) => void,
  tries?: number,
): Promise<void> {
  const nc = await connectNodes(deps, handle, forest, nodes, {name: 'morpheus grow'})
  try {
    await restoreInto(deps, nc, saved, report, tries)
  } finally {
    await nc.close().catch(() => undefined)
  }
}

/** The snapshots an earlier grow kept in `dir` (none when there is no such directory). */
function readKept(dir: string): Saved[] {
  let names: string[]
  try {
    names = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -5))
  } catch {
    return []
  }
  return names.map((name) => {
    const meta = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as {
      config: StreamConfig
      original: StreamConfig
      state: StreamSnapshot['state']
    }
    return {original: meta.original, snapshot: {config: meta.config, data: readFileSync(join(dir, `${name}.snapshot`)), state: meta.state}}
  })
}

/**
 * Snapshots an earlier grow of this forest kept (it stopped after node-1's streams were saved and
 * before they were restored): restore what the cluster lacks, then forget them. Nothing when none.
 */
export async function restorePending(
  deps: ForestDeps,
  handle: ProviderHandle,
  forest: ForestRecord,
  nodes: readonly NodeRecord[],
): Promise<number> {
  const access = deps.jetstream
  if (!access) return 0
  const dir = join(access.snapshotDir, forest.id)
  const saved = readKept(dir)
  if (saved.length === 0) return 0
  deps.progress.report(`restoring ${saved.length} stream${saved.length === 1 ? '' : 's'} an earlier grow kept in ${dir}`)
  await restoreThrough({...deps, jetstream: access}, handle, forest, nodes, saved, (m) => deps.progress.report(m))
  rmSync(dir, {force: true, recursive: true})
  return saved.length
}
