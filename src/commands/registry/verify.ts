import {MorpheusError, fromPluginError} from '../../errors.js'
import type {RegistryDocument} from '../../plugin-api/index.js'
import {documentProblems} from '../../registry/document.js'
import {MorpheusCommand} from '../../ui/base-command.js'
import {plural} from '../../words.js'

/** --json of a sound document (one with problems is an error, exit 4, listing them in error.details.problems). */
export interface VerifyResult {
  location: string
  forest_count: number
  node_count: number
  problems: string[]
}

const LIVE = new Set(['reserved', 'creating', 'starting', 'active'])

/** Consistency beyond the schema: what a well-behaved morpheus never leaves behind. */
export function consistencyProblems(doc: RegistryDocument): {problems: string[]; warnings: string[]} {
  const problems: string[] = []
  const warnings: string[] = []
  const ids = new Map<string, string>()
  const addresses = new Map<string, string>()
  for (const [forestId, nodes] of Object.entries(doc.nodes)) {
    for (const n of nodes) {
      const other = ids.get(n.id)
      if (other !== undefined && other !== forestId) problems.push(`node "${n.id}" is listed in both ${other} and ${forestId}`)
      ids.set(n.id, forestId)
      if (!n.ip || !LIVE.has(n.status)) continue
      const port = n.ports?.client ?? doc.forests[forestId]?.ports?.client ?? ''
      const key = `${n.ip}:${port}`
      const holder = addresses.get(key)
      if (holder) problems.push(`address ${n.ip}${port ? ` port ${port}` : ''} is used by both ${holder} and ${forestId}/${n.id}`)
      else addresses.set(key, `${forestId}/${n.id}`)
    }
  }
  for (const f of Object.values(doc.forests)) {
    const nodes = doc.nodes[f.id] ?? []
    if (f.status === 'active' && nodes.length === 0) problems.push(`forest ${f.id} is active but has no nodes`)
    if (f.status === 'active' && nodes.some((n) => n.status !== 'active')) warnings.push(`forest ${f.id} is active but ${nodes.filter((n) => n.status !== 'active').length} of its nodes are not`)
    if (f.operation) warnings.push(`forest ${f.id}: a ${f.operation.kind} started ${f.operation.started_at} on ${f.operation.device} (pid ${f.operation.pid}) has not finished`)
  }
  return {problems, warnings}
}

export default class RegistryVerify extends MorpheusCommand {
  static summary = 'Check the registry document: schema, and consistency (nodes without a forest, duplicate ids and addresses, ...).'
  static description = 'Exits 0 when the document is sound, 4 (with every problem listed) when it is not. Changes nothing.'
  static examples = ['<%= config.bin %> registry verify', '<%= config.bin %> registry verify --json']

  async run(): Promise<VerifyResult> {
    await this.parse(RegistryVerify)
    const {backend} = await this.runtime.registry()
    let stored
    try {
      stored = await backend.read()
    } catch (error) {
      throw fromPluginError(error, `registry ${backend.location}`, 'REGISTRY')
    }
    if (!stored) throw new MorpheusError('NOT_FOUND', `no registry document at ${backend.location} yet`, {hint: 'Run `morpheus registry init` to create it.'})
    let parsed: unknown
    const problems: string[] = []
    let warnings: string[] = []
    try {
      parsed = JSON.parse(stored.body)
    } catch (error) {
      problems.push(`not valid JSON (${(error as Error).message})`)
    }
    if (parsed !== undefined) problems.push(...documentProblems(parsed))
    const doc = parsed as RegistryDocument
    if (problems.length === 0) {
      const more = consistencyProblems(doc)
      problems.push(...more.problems)
      warnings = more.warnings
    }
    // Consistency warnings: in the JSON envelope's warnings (with --json), listed below otherwise.
    if (this.jsonEnabled()) for (const w of warnings) this.warning(w, 'REGISTRY_CONSISTENCY')
    if (problems.length > 0) {
      throw new MorpheusError('REGISTRY', `the registry at ${backend.location} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`, {
        details: {problems},
        hint: 'Fix them by hand, or go back to a sound revision: `morpheus registry history`, then `morpheus registry restore <revision>`.',
      })
    }
    const result: VerifyResult = {
      forest_count: Object.keys(doc.forests).length,
      location: backend.location,
      node_count: Object.values(doc.nodes).flat().length,
      problems,
    }
    if (!this.jsonEnabled()) {
      this.log(`The registry at ${backend.location} is sound: ${plural(result.forest_count, 'forest')}, ${plural(result.node_count, 'node')}.`)
      for (const w of warnings) this.log(`  warning: ${w}`)
    }
    return result
  }
}
