import {MorpheusError} from '../../errors.js'
import type {RegistryDocument} from '../../plugin-api/index.js'
import {CONSISTENCY_HINT, SCHEMA_HINT, consistencyProblems} from '../../registry/consistency.js'
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

export default class RegistryVerify extends MorpheusCommand {
  static summary = 'Check the registry document: schema, and consistency (nodes without a forest, two live nodes on one address, ...).'
  static description = 'Exits 0 when the document is sound, 4 (with every problem listed) when it is not. Changes nothing.'
  static examples = ['<%= config.bin %> registry verify', '<%= config.bin %> registry verify --json']

  async run(): Promise<VerifyResult> {
    await this.parse(RegistryVerify)
    const {backend} = await this.runtime.registry()
    const stored = await backend.read()
    if (!stored)
      throw new MorpheusError('NOT_FOUND', `no registry document at ${backend.location} yet`, {
        hint: 'Run `morpheus registry init` to create it.',
      })
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
    // A document that fails the schema is damaged (an older revision may be sound); consistency problems describe machines.
    const damaged = problems.length > 0
    if (!damaged) {
      const more = consistencyProblems(doc)
      problems.push(...more.problems)
      warnings = more.warnings
    }
    // Consistency warnings: in the JSON envelope's warnings (with --json), listed below otherwise.
    if (this.jsonEnabled()) for (const w of warnings) this.warning(w, 'REGISTRY_CONSISTENCY')
    if (problems.length > 0) {
      throw new MorpheusError(
        'REGISTRY',
        `the registry at ${backend.location} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`,
        {
          details: {problems},
          hint: damaged ? SCHEMA_HINT : CONSISTENCY_HINT,
        },
      )
    }
    const result: VerifyResult = {
      forest_count: Object.keys(doc.forests).length,
      location: backend.location,
      node_count: Object.values(doc.nodes).flat().length,
      problems,
    }
    if (!this.jsonEnabled()) {
      this.log(
        `The registry at ${backend.location} is sound: ${plural(result.forest_count, 'forest')}, ${plural(result.node_count, 'node')}.`,
      )
      for (const w of warnings) this.log(`  warning: ${w}`)
    }
    return result
  }
}
