import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {forgetForestIds} from '../autocomplete/forests-cache.js'
import {MorpheusError} from '../errors.js'
import {resolve} from '../plugins/discovery.js'
import {registryConfigured} from '../registry/setup.js'
import {planForest, Plant as Planting, type PlantPlan, type PlantResult} from '../forest/plant.js'
import {forestDeps} from '../forest/runtime-deps.js'
import {MorpheusCommand} from '../ui/base-command.js'
import {forestJson, nodeWith} from '../ui/json-shapes.js'
import type {CostEstimate, Money} from '../plugin-api/index.js'
import {ProgressRelay} from '../ui/progress.js'
import {questions, terminalPrompts} from '../ui/questions.js'
import {table} from '../ui/table.js'
import {evenCountWarning} from '../words.js'

export default class Plant extends MorpheusCommand {
  static summary = 'Plant a forest: create its nodes and wait until the NATS cluster has formed.'
  static description = `Creates the nodes in parallel, each running NATS with JetStream and routes to every other node, and finishes only when every node reports a route to each of the others and JetStream has a meta leader.

PROVIDER is a provider name (see \`morpheus providers\`), or "cloud" for the configured cloud provider (infrastructure.provider). SIZE maps to a node count through forest.sizes (small 1, medium 3, large 5 by default); --nodes wins over it.`
  static examples = [
    {command: '<%= config.bin %> plant local small', description: 'One NATS node on this machine.'},
    {command: '<%= config.bin %> plant local medium --json', description: 'Three local nodes, result as JSON.'},
    {command: '<%= config.bin %> plant local --nodes 7', description: 'Seven local nodes.'},
    {
      command: '<%= config.bin %> plant cloud small',
      description: 'On the configured cloud provider: shows the monthly cost estimate and asks first.',
    },
    {command: '<%= config.bin %> plant cloud medium --yes --json', description: 'For scripts: no question; the estimate is in the JSON.'},
    {
      command: '<%= config.bin %> plant cloud medium --dry-run --json',
      description: "The plan, with each node's exact user data, creating nothing.",
    },
  ]
  static args = {
    provider: Args.string({description: 'Provider name, or "cloud" for infrastructure.provider.', required: true}),
    size: Args.string({default: 'small', description: 'Size name from forest.sizes (small, medium, large).'}),
  }
  static flags = {
    'dry-run': Flags.boolean({description: "Create nothing, write nothing: print the plan and each node's user data."}),
    nodes: Flags.integer({description: 'Node count, 1 to 100 (wins over SIZE).', max: 100, min: 1}),
    unsafe: Flags.boolean({description: 'Write the registry even if its backend cannot make concurrent writes safe.'}),
    yes: Flags.boolean({char: 'y', description: 'Plant a paid (cloud) forest without asking; its cost estimate is still shown.'}),
  }

  async run(): Promise<ReturnType<typeof resultJson> | ReturnType<typeof planJson>> {
    const {args, flags} = await this.parse(Plant)
    if (flags['dry-run']) {
      const deps = await forestDeps(this.runtime, {userData: true})
      const plan = await planForest(deps, {nodes: flags.nodes, provider: await this.runtime.providerName(args.provider), size: args.size})
      if (!this.jsonEnabled()) this.showPlan(plan)
      return planJson(plan)
    }
    await this.ensureRegistry(await this.runtime.providerName(args.provider))
    const relay = new ProgressRelay({fancy: this.fancyProgress, quiet: this.jsonEnabled()})
    const deps = await forestDeps(this.runtime, {progress: relay, unsafe: flags.unsafe, userData: true})
    let planting: Planting | undefined
    try {
      return await this.operate(relay, async (runner) => {
        const p = (planting = await Planting.prepare(deps, {
          nodes: flags.nodes,
          provider: await this.runtime.providerName(args.provider),
          size: args.size,
        }))
        await this.confirmCost(p, flags.yes)
        const registry = (await this.runtime.registry()).entry.descriptor
        if (p.handle.capabilities.cloud && !registry.capabilities.remote) {
          this.warning(
            `the registry (${registry.name}) is a file on this device: other devices, and cron jobs elsewhere, will not see this forest. Move it with \`morpheus registry init\` (a Storage Box or S3).`,
            'LOCAL_REGISTRY',
          )
        }
        const even = evenCountWarning(p.count)
        if (even) this.warning(even, 'EVEN_NODE_COUNT')
        const {result} = await runner.run(p)
        if (!this.jsonEnabled()) this.show(result)
        return resultJson(result)
      })
    } finally {
      if (planting?.forest) forgetForestIds(this.config.cacheDir)
    }
  }

  /**
   * A cloud forest outlives this device, so its state must not land in a file here by default: with
   * no registry in the config, plant runs the registry set-up on a terminal (new Storage Box, existing
   * one, or local only, which writes registry.type none so it is not asked again) and fails without
   * one, naming the commands. A local forest lives on this device, and so may its registry file.
   */
  private async ensureRegistry(providerName: string): Promise<void> {
    if (registryConfigured(this.runtime.config.raw)) return
    const entry = resolve(await this.runtime.providers(), providerName)
    if (!entry.descriptor.capabilities.cloud) return
    if (!this.interactive) {
      throw new MorpheusError(
        'CONFIG',
        `no registry is configured (registry.type in ${this.runtime.config.path}): a ${entry.descriptor.name} forest's state must live where every device (and cron) can read it`,
        {
          hint: 'Set one up first: `morpheus registry init` on a terminal (asks), or `morpheus registry init --setup new-box` (a new Storage Box, needs HETZNER_API_TOKEN), or `morpheus registry init --setup existing-box --url <url> --username <user> --password-env <VAR>`; to keep it in a file on this device: `morpheus registry init --setup local`.',
        },
      )
    }
    this.log(`No registry is configured: a ${entry.descriptor.name} forest's state should live where every device can read it.`)
    const result = await this.runtime.setUpRegistry(questions({given: {}, interactive: true, prompts: terminalPrompts}))
    this.log(`${result.created ? 'Created' : 'Found'} the registry at ${result.location} (writes: ${result.probe.concurrency})`)
    this.reloadRuntime()
  }

  /**
   * A paid forest (a cloud provider, or a price above zero) is planted only once the user has seen
   * what it costs and said yes: at the prompt, or with --yes. Nothing exists yet when this asks.
   */
  private async confirmCost(p: Planting, yes: boolean): Promise<void> {
    const estimate = await p.estimate()
    if (!(await p.paid())) return
    const cost = estimate ? costLine(estimate, p.count) : `${p.handle.name} gives no price: see its own price list`
    if (!this.jsonEnabled()) process.stderr.write(`Estimated cost: ${cost}\n`)
    const what = `${p.count} ${p.handle.name} node${p.count === 1 ? '' : 's'}`
    const confirmed = await this.confirmOrRefuse({
      hint: 'Pass --yes to confirm (the estimate is in the --json output), or --dry-run to see the plan and its cost.',
      question: `Plant ${what}${estimate ? ` for about ${money(estimate.monthly)} a month` : ''}?`,
      refusal: `refusing to plant ${what} (${estimate ? money(estimate.monthly) + ' a month' : 'a paid forest'})`,
      yes,
    })
    if (!confirmed) throw new MorpheusError('USAGE', 'plant cancelled; nothing was created')
  }

  private showPlan(plan: PlantPlan): void {
    const f = plan.forest
    this.log(
      `Dry run: nothing was created or written. A plant now would make forest ${f.id} with ${plan.nodes.length} node${plan.nodes.length === 1 ? '' : 's'} (${f.provider}, ${f.size}, ${f.nats_mode} NATS).`,
    )
    this.log(`Route password: ${plan.route_password}`)
    if (plan.estimate) this.log(`Estimated cost: ${costLine(plan.estimate, plan.nodes.length)}`)
    this.log('')
    this.log(
      table(
        ['NODE', 'ADDRESS', 'PORTS'],
        plan.nodes.map((n) => [
          n.id,
          n.ip || '(at create)',
          n.ports
            ? `${n.ports.client}/${n.ports.cluster}/${n.ports.monitor}`
            : `${f.ports?.client}/${f.ports?.cluster}/${f.ports?.monitor}`,
        ]),
      ),
    )
    for (const n of plan.nodes) {
      if (n.user_data !== null) this.log(`\n--- ${n.id}: user data (${Buffer.byteLength(n.user_data)} bytes) ---\n${n.user_data}`)
      for (const [path, text] of Object.entries(n.files ?? {})) this.log(`\n--- ${n.id}: ${path} ---\n${text}`)
    }
  }

  private show(result: PlantResult): void {
    const f = result.forest
    this.log(
      `Forest ${f.id} planted with ${result.nodes.length} node${result.nodes.length === 1 ? '' : 's'} (${f.provider}, ${f.size}) in ${result.seconds}s`,
    )
    this.log('')
    this.log(
      table(
        ['NODE', 'ADDRESS', 'CLIENT', 'MONITOR', 'STATUS'],
        result.nodes.map((n) => [n.id, n.ip, n.client, n.monitor, n.status]),
      ),
    )
    this.log('')
    this.log(`Next: morpheus status ${f.id}    morpheus teardown ${f.id}`)
  }
}

/** --json of a plant: the forest and node objects of docs/json.md, with each node's endpoints. */
export function resultJson(result: PlantResult) {
  return {
    ...result,
    forest: forestJson(result.forest),
    nodes: result.nodes.map(({client, monitor, ...n}) => nodeWith(n, {client, monitor})),
  }
}

/** --json of a dry run: the plan, each node with what its provider would create. */
export function planJson(plan: PlantPlan) {
  return {
    ...plan,
    forest: forestJson(plan.forest),
    nodes: plan.nodes.map(({details, files, user_data: userData, ...n}) =>
      nodeWith(n, {user_data: userData, files: files ?? {}, details: details ?? {}}),
    ),
  }
}

function money(m: Money): string {
  return `${m.amount.toFixed(2)} ${m.currency}`
}

/** "24.90 EUR a month (3 × 8.30 EUR: cpx22 in fsn1: 7.70 EUR, Primary IPv4: 0.60 EUR, ...)" */
function costLine(e: CostEstimate, count: number): string {
  const parts = e.breakdown && e.breakdown.length > 0 ? `: ${e.breakdown.join(', ')}` : ''
  return `${money(e.monthly)} a month (${count} × ${money(e.per_node)} per node${parts})`
}
