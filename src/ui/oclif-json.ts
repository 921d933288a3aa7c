import {stripVTControlCharacters} from 'node:util'

import {Config, Errors, type Command, type Interfaces} from '@oclif/core'

import {asMorpheusError, errorEnvelope, successEnvelope} from './json.js'

/** A plugin as `plugins --json` lists it (schemas/oclif.json). */
export interface PluginJson {
  name: string
  version: string
  /** core (bundled), user (plugins install), link (plugins link), dev. */
  type: string
}

/** The plugins oclif loads now, read afresh (after an install or uninstall), without the CLI itself. */
export async function pluginList(root: string): Promise<PluginJson[]> {
  const config = await Config.load(root)
  return config
    .getPluginsList()
    .filter((p) => !p.parent && p.root !== config.root)
    .map((p) => ({name: p.name, type: p.type, version: p.version}))
    .sort((a, b) => a.name.localeCompare(b.name))
}

/**
 * `--json` on one of oclif's own commands (plugins and its subcommands, autocomplete, help),
 * which print text: they cannot take the flag, or (plugins, plugins install) would print oclif's
 * internal objects. Called by the prerun hook (src/hooks/oclif-json.ts) with the command about to
 * run: removes `--json` from its arguments, runs it as usual with its stdout captured (progress
 * on stderr stays where it is), and prints the envelope of docs/json.md instead:
 * `{ok, warnings, command, output}`, where `output` is the text the command printed, plus
 * `plugins` (the plugins installed afterwards) for the plugins commands; or the error envelope
 * with the command's own exit code.
 */
export function answerInJson(command: Command.Class, argv: string[], config: Interfaces.Config): void {
  const end = argv.indexOf('--')
  const at = argv.indexOf('--json')
  if (at !== -1 && (end === -1 || at < end)) argv.splice(at, 1)
  const id = command.id ?? ''
  const original = command.run
  const wrapped = async function (this: Command.Class, args?: string[], options?: unknown): Promise<unknown> {
    const chunks: string[] = []
    const stdoutWrite = process.stdout.write
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'))
      const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined
      callback?.()
      return true
    }) as typeof process.stdout.write
    let result: unknown
    let failure: unknown
    try {
      result = await original.call(this, args, options as never)
    } catch (error) {
      failure = error
    } finally {
      process.stdout.write = stdoutWrite
    }
    const fields = {command: id.replaceAll(':', ' '), output: stripVTControlCharacters(chunks.join(''))}
    const exit = (failure as {oclif?: {exit?: number}} | undefined)?.oclif?.exit
    if (failure !== undefined && !(failure instanceof Errors.ExitError && exit === 0)) {
      const e = asMorpheusError(failure, id)
      process.stdout.write(JSON.stringify(errorEnvelope(e, [], fields), null, 2) + '\n')
      Errors.exit(e.exitCode)
    }
    const plugins = id === 'plugins' || id.startsWith('plugins:') ? {plugins: await pluginList(config.root)} : {}
    process.stdout.write(JSON.stringify(successEnvelope({...fields, ...plugins}), null, 2) + '\n')
    return result
  }
  Object.defineProperty(command, 'run', {configurable: true, value: wrapped, writable: true})
}
