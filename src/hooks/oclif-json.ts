import type {Hook} from '@oclif/core'

import {wantsJson} from '../ui/wants-json.js'

/**
 * `--json` on oclif's own commands (plugins, plugins install/uninstall/link/...,
 * help): they answer in the envelope of docs/json.md too (src/ui/oclif-json.ts) instead of
 * failing with "Nonexistent flag: --json" or printing oclif's internal objects.
 *
 * This runs before every command: it imports nothing and returns at once unless the command is
 * one of oclif's and `--json` was given. Morpheus's own commands handle --json themselves.
 */
const hook: Hook<'prerun'> = async function ({argv, Command, config}) {
  const plugin = (Command as {plugin?: {name?: string}}).plugin?.name
  if (!plugin?.startsWith('@oclif/')) return
  if (!wantsJson(argv)) return
  const {answerInJson} = await import('../ui/oclif-json.js')
  answerInJson(Command, argv, config)
}

export default hook
