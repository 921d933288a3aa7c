import type {Hook} from '@oclif/core'

import {ExitCode} from '../errors.js'
import {nearest} from '../suggest.js'
import {wantsJson} from '../ui/wants-json.js'

/**
 * An unknown command (`morpheus stat`): say so with a "did you mean" among the visible commands
 * and topics, and exit 2 (usage), instead of oclif's bare "command stat not found". On stderr as
 * text, or, with `--json`, as the error envelope of docs/json.md on stdout, so a script always gets
 * JSON. (Loads the envelope's module only with --json.)
 */
const hook: Hook<'command_not_found'> = async function ({argv, config, id}) {
  const json = wantsJson([id, ...(argv ?? [])])
  const spaced = (s: string) => s.replaceAll(':', config.topicSeparator)
  let message: string
  let hint = `\`${config.bin} --help\` lists the commands.`
  let typed = id
  if (id.startsWith('-')) {
    message = `no command given (${id} is not one)`
  } else {
    const known = [
      ...config.commands.filter((c) => !c.hidden).flatMap((c) => [c.id, ...c.aliases]),
      ...config.topics.filter((t) => !t.hidden).map((t) => t.name),
    ]
    // With spaces between topic and command, oclif hands over the words that follow too
    // (`stat forest-1` arrives as stat:forest-1): keep the known topics and the first unknown word.
    const parts = id.split(':')
    let n = 1
    while (n < parts.length && config.findTopic(parts.slice(0, n).join(':'))) n++
    const word = parts.slice(0, n).join(':')
    const near = nearest(word, known).map((k) => `${config.bin} ${spaced(k)}`)
    typed = spaced(word)
    message = `"${typed}" is not a ${config.bin} command`
    if (near.length > 0) hint = `Did you mean ${near.map((k) => `\`${k}\``).join(' or ')}? ${hint}`
  }
  if (!json) {
    process.stderr.write(`Error: ${message}\nHint: ${hint}\n`)
    this.exit(ExitCode.USAGE)
  }
  const [{MorpheusError}, {errorEnvelope}] = await Promise.all([import('../errors.js'), import('../ui/json.js')])
  const error = new MorpheusError('USAGE', message, {details: {command: typed}, hint})
  process.stdout.write(JSON.stringify(errorEnvelope(error), null, 2) + '\n')
  this.exit(error.exitCode)
}

export default hook
