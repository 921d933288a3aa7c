import {MorpheusError} from '../errors.js'
import type {ForestRecord, NodeRecord, RegistryDocument} from '../plugin-api/index.js'
import {isPlainObject} from '../config/schema.js'

export const REGISTRY_VERSION = 1

export function emptyDocument(now = new Date()): RegistryDocument {
  return {forests: {}, nodes: {}, updated_at: now.toISOString(), version: REGISTRY_VERSION}
}

const FOREST_STATUS = new Set(['planting', 'active', 'failed', 'interrupted', 'tearing_down'])
const NODE_STATUS = new Set(['reserved', 'creating', 'starting', 'active', 'failed', 'deleting'])

function check(problems: string[], ok: boolean, message: string): void {
  if (!ok) problems.push(message)
}

const isString = (v: unknown): v is string => typeof v === 'string'
const isPort = (v: unknown) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535
const isPorts = (v: unknown) => isPlainObject(v) && isPort(v.client) && isPort(v.cluster) && isPort(v.monitor)
const OPERATIONS = new Set(['plant', 'grow', 'teardown', 'repair', 'upgrade', 'shrink'])
/** versions: {nats?, nats_source?, nimsforest?}, each a string (absent in older documents). */
const isVersions = (v: unknown) => v === undefined || (isPlainObject(v) && Object.values(v).every(isString))

function validateForest(id: string, f: unknown, problems: string[]): void {
  const at = `forests.${id}`
  if (!isPlainObject(f)) return void problems.push(`${at} must be an object`)
  check(problems, f.id === id, `${at}.id must equal its key "${id}"`)
  check(problems, isString(f.provider) && f.provider !== '', `${at}.provider must be a non-empty string`)
  check(problems, isString(f.size), `${at}.size must be a string`)
  check(problems, FOREST_STATUS.has(f.status as string), `${at}.status must be one of ${[...FOREST_STATUS].join(', ')}`)
  check(problems, isString(f.created_at) && !Number.isNaN(Date.parse(f.created_at)), `${at}.created_at must be an ISO date`)
  check(
    problems,
    f.last_expansion === null ||
      f.last_expansion === undefined ||
      (isString(f.last_expansion) && !Number.isNaN(Date.parse(f.last_expansion))),
    `${at}.last_expansion must be null or an ISO date`,
  )
  check(
    problems,
    f.node_count === undefined || (Number.isInteger(f.node_count) && (f.node_count as number) >= 0),
    `${at}.node_count must be a non-negative integer`,
  )
  check(problems, f.device === undefined || (isString(f.device) && f.device !== ''), `${at}.device must be a non-empty string`)
  check(problems, f.ports === undefined || isPorts(f.ports), `${at}.ports must have client, cluster and monitor ports (1-65535)`)
  check(problems, isVersions(f.versions), `${at}.versions must be an object of strings`)
  const op = f.operation
  check(
    problems,
    op === undefined ||
      op === null ||
      (isPlainObject(op) &&
        OPERATIONS.has(op.kind as string) &&
        isString(op.device) &&
        Number.isInteger(op.pid) &&
        isString(op.started_at)),
    `${at}.operation must be null or {kind: plant|grow|teardown|repair|upgrade|shrink, device, pid, started_at}`,
  )
}

function validateNode(forestId: string, i: number, n: unknown, problems: string[]): void {
  const at = `nodes.${forestId}[${i}]`
  if (!isPlainObject(n)) return void problems.push(`${at} must be an object`)
  check(problems, isString(n.id) && n.id !== '', `${at}.id must be a non-empty string`)
  check(problems, isString(n.ip), `${at}.ip must be a string`)
  check(problems, n.forest_id === forestId, `${at}.forest_id must be "${forestId}"`)
  check(problems, n.ipv4 === undefined || isString(n.ipv4), `${at}.ipv4 must be a string`)
  check(problems, n.ipv6 === undefined || isString(n.ipv6), `${at}.ipv6 must be a string`)
  check(problems, isString(n.role), `${at}.role must be a string`)
  check(problems, NODE_STATUS.has(n.status as string), `${at}.status must be one of ${[...NODE_STATUS].join(', ')}`)
  check(problems, isString(n.created_at), `${at}.created_at must be an ISO date`)
  check(problems, n.probe_address === undefined || isString(n.probe_address), `${at}.probe_address must be a string`)
  check(problems, n.ports === undefined || isPorts(n.ports), `${at}.ports must have client, cluster and monitor ports (1-65535)`)
  check(problems, isVersions(n.versions), `${at}.versions must be an object of strings`)
}

/** The document's version when a newer Morpheus wrote it (not corruption: this one is too old). */
export function newerVersion(doc: unknown): number | undefined {
  const version = isPlainObject(doc) ? doc.version : undefined
  return typeof version === 'number' && Number.isInteger(version) && version > REGISTRY_VERSION ? version : undefined
}

/** Structural problems of a parsed document (empty when it is valid). */
export function documentProblems(doc: unknown): string[] {
  const problems: string[] = []
  if (!isPlainObject(doc)) return ['the document must be a JSON object']
  if (doc.version !== REGISTRY_VERSION) {
    const newer = newerVersion(doc)
    problems.push(
      newer
        ? `version ${newer}: written by a newer Morpheus (this one reads version ${REGISTRY_VERSION}); upgrade Morpheus`
        : `version must be ${REGISTRY_VERSION}, found ${JSON.stringify(doc.version)}`,
    )
    return problems
  }
  check(problems, isString(doc.updated_at), 'updated_at must be an ISO date')
  if (!isPlainObject(doc.forests)) problems.push('forests must be an object')
  if (!isPlainObject(doc.nodes)) problems.push('nodes must be an object')
  if (problems.length > 0) return problems
  const forests = doc.forests as Record<string, unknown>
  for (const [id, f] of Object.entries(forests)) validateForest(id, f, problems)
  for (const [forestId, list] of Object.entries(doc.nodes as Record<string, unknown>)) {
    if (!Array.isArray(list)) {
      problems.push(`nodes.${forestId} must be a list`)
      continue
    }
    if (!(forestId in forests)) problems.push(`nodes.${forestId} has no forest entry`)
    const seen = new Set<string>()
    list.forEach((n, i) => {
      validateNode(forestId, i, n, problems)
      const id = (n as {id?: string})?.id
      if (id && seen.has(id)) problems.push(`nodes.${forestId} lists node "${id}" twice`)
      if (id) seen.add(id)
    })
  }
  return problems
}

/** Parse and validate a stored document. A corrupt document is an error that names where it lives. */
export function parseDocument(body: string, location: string): RegistryDocument {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch (error) {
    throw new MorpheusError('REGISTRY', `the registry at ${location} is corrupt: not valid JSON (${(error as Error).message})`, {
      hint: 'Morpheus will not overwrite it. Restore it from a backup or fix it by hand, then run `morpheus registry show`.',
    })
  }
  const version = newerVersion(parsed)
  if (version !== undefined) {
    throw new MorpheusError(
      'REGISTRY',
      `the registry at ${location} was written by a newer Morpheus (document version ${version}; this one reads version ${REGISTRY_VERSION})`,
      {
        details: {found_version: version, supported_version: REGISTRY_VERSION},
        hint: 'Upgrade Morpheus on this device to the version the other devices use. Nothing was changed, and nothing will be written to it until then.',
      },
    )
  }
  const problems = documentProblems(parsed)
  if (problems.length > 0) {
    const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and ${problems.length - 5} more` : '')
    throw new MorpheusError('REGISTRY', `the registry at ${location} is corrupt: ${shown}`, {
      hint: 'Morpheus will not overwrite it. Restore it from a backup or fix it by hand, then run `morpheus registry show`.',
    })
  }
  return parsed as RegistryDocument
}

export function serializeDocument(doc: RegistryDocument): string {
  return JSON.stringify(doc, null, 2) + '\n'
}

export function forestNodes(doc: RegistryDocument, forestId: string): NodeRecord[] {
  return doc.nodes[forestId] ?? []
}

export function findForest(doc: RegistryDocument, id: string): ForestRecord {
  const forest = doc.forests[id]
  if (!forest) {
    const known = Object.keys(doc.forests)
    throw new MorpheusError('NOT_FOUND', `no forest "${id}" in the registry`, {
      hint:
        known.length > 0
          ? `Known forests: ${known.join(', ')}`
          : 'The registry has no forests yet: `morpheus plant local small` makes one.',
    })
  }
  return forest
}
