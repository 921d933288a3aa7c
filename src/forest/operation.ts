import {randomBytes} from 'node:crypto'

import type {ForestOperation, ForestRecord} from '../plugin-api/index.js'
import {processAlive} from '../plugins/helpers.js'

export function operation(kind: ForestOperation['kind'], device: string, now = new Date()): ForestOperation {
  return {device, kind, pid: process.pid, started_at: now.toISOString(), token: randomBytes(6).toString('hex')}
}

/** Is this the operation `op` (our own claim, applied again after a conflict or a retried write)? */
export function sameOperation(recorded: ForestOperation | null | undefined, op: ForestOperation): boolean {
  return Boolean(recorded && recorded.token === op.token && recorded.pid === op.pid && recorded.device === op.device)
}

/**
 * A forest whose recorded operation (plant, grow, teardown) has no process any more: it was
 * killed before it could record how it ended. Only this device can tell (by pid); an operation
 * of another device counts as stale once it is older than a day.
 */
export function staleOperation(forest: ForestRecord, device: string, now = Date.now()): ForestOperation | undefined {
  const op = forest.operation
  if (!op) return undefined
  if (op.device === device) return op.pid === process.pid || processAlive(op.pid) ? undefined : op
  return now - Date.parse(op.started_at) > 24 * 3600_000 ? op : undefined
}

/** What to run to finish or remove a forest left by a stopped operation. */
export function staleHint(forest: ForestRecord): string {
  const kind = forest.operation?.kind
  // A repair or upgrade is finished by running it again (it takes over its own stopped operation).
  if (kind === 'repair' || kind === 'upgrade')
    return `Its ${kind} was stopped before it finished. Run \`morpheus ${kind} ${forest.id}${kind === 'upgrade' ? ' --nats|--nimsforest <the same version>' : ''}\` again to finish it; \`morpheus status ${forest.id}\` shows the nodes.`
  return `Its ${kind ?? 'last operation'} was stopped before it finished. Check it with \`morpheus status ${forest.id}\`; remove it with \`morpheus teardown ${forest.id} --yes\`.`
}
