import type {Hook} from '@oclif/core'
import {CLIError} from '@oclif/core/errors'

/**
 * An unknown command: oclif's own message and exit 2, or, with `--json`, the error envelope of
 * docs/json.md (code USAGE, exit 2) on stdout, so a script always gets JSON. (Loads Morpheus's
 * modules only with --json.)
 */
const hook: Hook<'command_not_found'> = async function ({argv, id}) {
  const words = id.replaceAll(':', ' ')
  const all = [id, ...(argv ?? [])]
  const end = all.indexOf('--')
  const at = all.indexOf('--json')
  const message = id.startsWith('-') ? `no command given (${id} is not one)` : `command ${words} not found`
  if (at === -1 || (end !== -1 && at > end)) throw new CLIError(message, {exit: 2})
  const [{MorpheusError}, {errorEnvelope}] = await Promise.all([import('../errors.js'), import('../ui/json.js')])
  const error = new MorpheusError('USAGE', message, {details: {command: words}, hint: '`morpheus --help` lists the commands.'})
  process.stdout.write(JSON.stringify(errorEnvelope(error), null, 2) + '\n')
  this.exit(error.exitCode)
}

export default hook
