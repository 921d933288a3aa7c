import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {MorpheusError} from '../errors.js'
import {assessDeps, assessForest, errorResult, type Assessment} from '../growth/assess.js'
import type {ForestDeps} from '../forest/deps.js'
import {Growth} from '../forest/grow.js'
import type {OperationRunner} from '../forest/runner.js'
import {forestDeps} from '../forest/runtime-deps.js'
import {claimGuard, growthSettings, type GrowthSettings} from '../growth/policy.js'
import {ordered, type GrowResult} from '../growth/result.js'
import type {ForestRecord, RegistryDocument} from '../plugin-api/index.js'
import {findForest} from '../registry/document.js'
import {readRegistry} from '../registry/update.js'
import {FailedWithResult, MorpheusCommand} from '../ui/base-command.js'
import {forestJson, type ForestJson} from '../ui/json-shapes.js'
import {growScreen} from '../ui/grow-screen.js'
import {ProgressRelay} from '../ui/progress.js'
import {plural} from '../words.js'

export default class Grow extends MorpheusCommand {
  static summary = "See a forest's load and add a node when it needs one (--auto: from cron, no prompts)."
  static description = `Reads every node's NATS monitoring endpoints (/varz, /routez, /healthz, /jsz) at once and shows the forest's CPU, memory and JetStream storage use, its nodes and routes, and whether it should grow. CPU % is the NATS process CPU over the node's cores; memory % is its resident memory over the node's RAM; storage % is JetStream file storage in use over its limit. Thresholds apply to the forest average.

Without --auto, grow shows the screen and asks \`Add 1 node? [y/N]\` when a threshold is crossed (--yes answers yes). With --auto it decides alone, for FOREST or for every forest in the registry, and prints one result per forest: status no_action, expanded, cooldown, at_max_nodes, dry_run or error. The cooldown is measured from the forest's last expansion recorded in the registry, so cron jobs on several devices share it, and the decision is claimed in the registry before anything is created: two runs at once never both add a node.

Exit codes: 0 when every forest was decided (whatever the status); with status error, the error's own code (4 registry, 5 provider, 6 not found, 7 the new node did not join, 130 interrupted; the first one when several forests fail); 2 bad usage or no confirmation without a terminal; 3 config.`
  static examples = [
    {command: '<%= config.bin %> grow', description: 'The load of your forest, and a node added if you say yes.'},
    {command: '<%= config.bin %> grow forest-1732400000 --auto --dry-run', description: 'What --auto would do, changing nothing.'},
    {command: '<%= config.bin %> grow --auto --threshold 80 --output json', description: 'For cron: every forest, JSON out.'},
    {
      command: '*/15 * * * * morpheus grow --auto --threshold 80 --output json >> ~/.morpheus/grow.log 2>&1',
      description: 'The crontab line.',
    },
  ]
  static args = {
    forest: Args.string({description: 'Forest id (see `morpheus list`); --auto without it checks every forest.'}),
  }
  static flags = {
    auto: Flags.boolean({description: 'Decide and add without prompts (for cron).'}),
    threshold: Flags.integer({
      description: 'Grow when an average is above N% (replaces growth.threshold_cpu, _memory and _storage for this run).',
      min: 0,
      max: 100,
    }),
    'dry-run': Flags.boolean({description: 'Decide and report, but add nothing.'}),
    output: Flags.string({description: 'Text, or json (the same as --json).', options: ['text', 'json'], default: 'text'}),
    yes: Flags.boolean({char: 'y', description: 'Add the recommended node without asking.'}),
    unsafe: Flags.boolean({description: 'Write the registry even if its backend cannot make concurrent writes safe.'}),
    'node-timeout': Flags.integer({
      description:
        'How long each node may take to answer its monitoring endpoints, in ms (a node that takes longer counts as unreachable).',
      default: 5000,
      min: 50,
      max: 60000,
    }),
  }

  /** `--output json` is `--json`. */
  jsonEnabled(): boolean {
    if (super.jsonEnabled()) return true
    const argv = this.argv ?? []
    const i = argv.indexOf('--output')
    return (i !== -1 && argv[i + 1] === 'json') || argv.includes('--output=json')
  }

  private settings!: GrowthSettings

  async run(): Promise<GrowJson | {results: GrowJson[]}> {
    const {args, flags} = await this.parse(Grow)
    this.settings = growthSettings(this.runtime.config.values.growth, flags.threshold)
    this.relay = new ProgressRelay({fancy: !flags.auto && this.fancyProgress, quiet: this.jsonEnabled()})
    this.unsafe = flags.unsafe
    const {backend} = await this.runtime.registry()
    const {doc} = await readRegistry(backend)
    return this.operate(this.relay, (runner) => {
      this.runner = runner
      return flags.auto ? this.auto(doc, args.forest, flags['dry-run'], flags['node-timeout']) : this.screen(doc, args.forest, flags)
    })
  }

  private relay!: ProgressRelay
  private unsafe = false
  /** Runs each growth (src/forest/runner.ts); the base command settles the one under way on Ctrl-C. */
  private runner!: OperationRunner
  private engine?: Promise<ForestDeps>

  private forestEngine(): Promise<ForestDeps> {
    this.engine ??= forestDeps(this.runtime, {progress: this.relay, unsafe: this.unsafe, userData: true})
    return this.engine
  }

  // -------------------------------------------------------------------------
  // --auto
  // -------------------------------------------------------------------------
  private async auto(
    doc: RegistryDocument,
    forestId: string | undefined,
    dryRun: boolean,
    timeoutMs: number,
  ): Promise<GrowJson | {results: GrowJson[]}> {
    const ids = forestId
      ? [findForest(doc, forestId).id]
      : Object.values(doc.forests)
          .sort((a, b) => a.created_at.localeCompare(b.created_at))
          .map((f) => f.id)
    const deps = await this.forestEngine()
    const assessments = await Promise.all(ids.map((id) => assessForest(assessDeps(deps, timeoutMs), doc, id, this.settings)))
    const results: GrowJson[] = []
    for (const a of assessments) {
      const r = await this.act(a, dryRun, 'auto')
      results.push(growJson(r, a.forest))
      if (!this.jsonEnabled()) this.log(autoLine(r))
    }
    if (!this.jsonEnabled() && results.length === 0) this.log('No forests in the registry: nothing to grow.')
    const output = forestId ? results[0] : {results}
    const failed = results.find((r) => r.status === 'error')
    // The first failure decides the exit code; with --json the error envelope carries every result.
    if (failed)
      throw new FailedWithResult(
        new MorpheusError(failed.error!.code as MorpheusError['kind'], failed.error!.message, {hint: failed.error!.hint}),
        output,
      )
    return output
  }

  /** Turn an assessment into what happens: nothing, a dry run, or nodes added through the registry claim. */
  private async act(a: Assessment, dryRun: boolean, mode: 'auto' | 'confirmed'): Promise<GrowResult> {
    const r = a.result
    if (r.status !== 'expanded' || !a.decision) return r
    if (dryRun) return {...r, message: `${r.message} (dry run: nothing added)`, status: 'dry_run'}
    if (mode === 'auto' && !this.settings.enabled) {
      return {
        ...r,
        action: null,
        message: `${r.message}; growth.enabled is false, so nothing is added`,
        reason: 'growth_disabled',
        status: 'no_action',
      }
    }
    const {guard, refusal} = claimGuard(this.settings, a.decision.count)
    try {
      const deps = await this.forestEngine()
      const outcome = await this.runner.run(await Growth.prepare(deps, {count: a.decision.count, forestId: a.forest.id, guard}))
      if (outcome.kind === 'busy') {
        return {...r, action: null, message: `${outcome.message}; nothing added`, reason: 'expansion_in_progress', status: 'cooldown'}
      }
      // (A claim that reserved nothing is no expansion: defensive.)
      if (outcome.kind === 'refused' || outcome.result.added.length === 0) {
        const why = refusal()
        const message = outcome.kind === 'refused' ? outcome.reason : 'the claim reserved no node'
        return {...r, action: null, message: why?.message ?? message, reason: why?.reason ?? 'cooldown', status: why?.status ?? 'cooldown'}
      }
      const ids = outcome.result.added.map((n) => n.id)
      return {
        ...r,
        action: {...r.action!, count: ids.length, node_id: ids[0], node_ids: ids, nodes_after: outcome.result.nodes.length},
        message: `${r.message}: added ${ids.join(', ')} in ${outcome.result.seconds}s`,
      }
    } catch (error) {
      return errorResult(a.forest.id, this.settings, this.toMorpheusError(error), {metrics: r.metrics, nodes: r.nodes})
    }
  }

  // -------------------------------------------------------------------------
  // interactive
  // -------------------------------------------------------------------------
  private async screen(
    doc: RegistryDocument,
    forestArg: string | undefined,
    flags: {yes: boolean; 'dry-run': boolean; 'node-timeout': number},
  ): Promise<GrowJson> {
    const forestId = await this.pickForest(doc, forestArg)
    const a = await assessForest(assessDeps(await this.forestEngine(), flags['node-timeout']), doc, forestId, this.settings)
    if (a.result.status === 'error') {
      const e = a.result.error!
      throw new MorpheusError(e.code as MorpheusError['kind'], e.message, {hint: e.hint})
    }
    if (!this.jsonEnabled()) {
      this.log(growScreen(a.forest, a.result))
      this.log('')
    }
    if (a.result.status !== 'expanded') return growJson(a.result, a.forest)
    if (flags['dry-run']) {
      const r = await this.act(a, true, 'confirmed')
      if (!this.jsonEnabled()) this.log('Dry run: nothing added.')
      return growJson(r, a.forest)
    }
    const n = a.result.action!.count
    const question = `Add ${n} node${n === 1 ? '' : 's'}? [y/N] `
    const confirmed = await this.confirmOrRefuse({
      hint: 'Pass --yes to add it, or use --auto (for cron).',
      prompt: ask,
      question,
      refusal: `not adding ${n} node${n === 1 ? '' : 's'} to ${forestId}`,
      yes: flags.yes,
    })
    if (!confirmed) {
      if (!this.jsonEnabled()) this.log('Nothing added.')
      return growJson(
        {...a.result, action: null, message: 'declined at the prompt; nothing added', reason: 'declined', status: 'no_action'},
        a.forest,
      )
    }
    const r = await this.act(a, false, 'confirmed')
    if (r.status === 'error') {
      const e = r.error!
      throw new MorpheusError(e.code as MorpheusError['kind'], e.message, {details: {forest_id: forestId}, hint: e.hint})
    }
    if (!this.jsonEnabled()) {
      if (r.status === 'expanded')
        this.log(
          `✅ ${r.action!.count === 1 ? 'Node' : `${r.action!.count} nodes`} added (${r.action!.node_ids.join(', ')}). Cluster now has ${r.action!.nodes_after} nodes.`,
        )
      else this.log(`Nothing added: ${r.message}.`)
    }
    return growJson(r, a.forest)
  }

  private async pickForest(doc: RegistryDocument, forestArg: string | undefined): Promise<string> {
    if (forestArg) return findForest(doc, forestArg).id
    const forests = Object.values(doc.forests).sort((a, b) => a.created_at.localeCompare(b.created_at))
    if (forests.length === 0) {
      throw new MorpheusError('NOT_FOUND', 'the registry has no forests to grow', {hint: 'Plant one first: `morpheus plant local small`.'})
    }
    if (forests.length === 1) return forests[0].id
    const listing = forests.map((f) => `${f.id} (${f.provider}, ${plural((doc.nodes[f.id] ?? []).length, 'node')})`).join(', ')
    if (!this.interactive) {
      throw new MorpheusError('USAGE', `the registry has ${forests.length} forests: ${listing}`, {
        hint: 'Name one: `morpheus grow <forest>`, or use `morpheus grow --auto` to check them all.',
      })
    }
    const {select} = await import('@inquirer/prompts')
    return select({
      choices: forests.map((f) => ({
        name: `${f.id}  ${f.provider}, ${plural((doc.nodes[f.id] ?? []).length, 'node')}, ${f.status}`,
        value: f.id,
      })),
      message: 'Which forest?',
    })
  }
}

/**
 * --json of one forest's growth (docs/grow.md, schemas/grow.json): the seeds' fields first
 * (forest_id, status, reason, metrics, action), then the forest object as it was assessed;
 * the forest's node count is metrics.node_count, and `nodes` lists each node's metrics.
 */
export type GrowJson = Omit<GrowResult, 'metrics'> & {
  forest: ForestJson
  metrics: Omit<GrowResult['metrics'], 'nodes'> & {node_count: number}
}

export function growJson(r: GrowResult, forest: ForestRecord): GrowJson {
  const {forest_id: id, ...rest} = ordered(r)
  const {nodes: count, ...metrics} = r.metrics
  return {forest_id: id, ...rest, forest: forestJson(forest), metrics: {node_count: count, ...metrics}}
}

/** One line per forest for cron logs (text mode of --auto). */
export function autoLine(r: GrowResult): string {
  const m = r.metrics
  const load = `cpu ${m.cpu_percent ?? '-'}%, mem ${m.memory_percent ?? '-'}%, disk ${m.storage_percent ?? '-'}%, ${m.reachable}/${m.nodes} nodes answering`
  const what = r.status === 'expanded' && r.action ? `added ${r.action.node_ids.join(', ')} (${r.action.nodes_after} nodes now)` : r.message
  return `${new Date().toISOString()} ${r.forest_id}: ${r.status} (${r.reason}): ${what} [${load}]`
}

/** `Add 1 node? [y/N] ` on the terminal: yes only for y or yes. */
async function ask(question: string): Promise<boolean> {
  const {createInterface} = await import('node:readline/promises')
  const rl = createInterface({input: process.stdin, output: process.stdout})
  try {
    const answer = await rl.question(question)
    return /^y(es)?$/i.test(answer.trim())
  } finally {
    rl.close()
  }
}
