import type {Hook} from '@oclif/core'

import {ExitCode} from '../errors.js'
import {nearest} from '../suggest.js'

/**
 * An unknown command (`morpheus stat`): say so with a "did you mean" among the visible commands
 * and topics, on stderr, and exit 2 (usage), instead of oclif's bare "command stat not found".
 */
const hook: Hook<'command_not_found'> = async function ({config, id}) {
  const spaced = (s: string) => s.replaceAll(':', config.topicSeparator)
  const known = [...config.commands.filter((c) => !c.hidden).flatMap((c) => [c.id, ...c.aliases]), ...config.topics.filter((t) => !t.hidden).map((t) => t.name)]
  // With spaces between topic and command, oclif hands over the words that follow too
  // (`stat forest-1` arrives as stat:forest-1): keep the known topics and the first unknown word.
  const parts = id.split(':')
  let n = 1
  while (n < parts.length && config.findTopic(parts.slice(0, n).join(':'))) n++
  const word = parts.slice(0, n).join(':')
  const near = nearest(word, known).map((k) => `${config.bin} ${spaced(k)}`)
  const typed = spaced(word)
  process.stderr.write(`Error: "${typed}" is not a ${config.bin} command\n`)
  process.stderr.write(`Hint: ${near.length > 0 ? `Did you mean ${near.map((n) => `\`${n}\``).join(' or ')}? ` : ''}\`${config.bin} --help\` lists the commands.\n`)
  this.exit(ExitCode.USAGE)
}

export default hook
