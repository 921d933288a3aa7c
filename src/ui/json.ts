import {ExitCode, MorpheusError, type ExitCodeName} from '../errors.js'
import {toFsError} from '../fs-errors.js'

/**
 * The one JSON envelope of every command (docs/json.md, schemas/common.json). Top level, so a
 * script reads `ok` and then the command's own fields where they always were:
 *
 *   success: {"ok": true,  "warnings": [...], ...the command's fields}
 *   error:   {"ok": false, "warnings": [...], "error": {code, exitCode, message, hint?, details?}}
 *
 * `ok` is true exactly when the exit code is 0. Warnings are what the command would have printed
 * on stderr as `warning: ...` without --json.
 */
export interface JsonWarning {
  code?: string
  message: string
}

export interface JsonError {
  code: string
  exitCode: number
  message: string
  hint?: string
  details?: Record<string, unknown>
}

/** A command's own fields: anything but the envelope's. */
export type JsonResult = {[key: string]: unknown} & {ok?: never; warnings?: never}

export type SuccessEnvelope<T extends object = JsonResult> = {ok: true; warnings: JsonWarning[]} & T
export interface ErrorEnvelope {
  ok: false
  warnings: JsonWarning[]
  error: JsonError
  [key: string]: unknown
}

const RESERVED = new Set(['ok', 'warnings', 'error'])

function ownFields(result: object): Record<string, unknown> {
  const clash = Object.keys(result).filter((k) => RESERVED.has(k))
  if (clash.length > 0)
    throw new MorpheusError('UNEXPECTED', `a command result uses the envelope's field${clash.length === 1 ? '' : 's'} ${clash.join(', ')}`)
  return result as Record<string, unknown>
}

export function successEnvelope<T extends object>(result: T, warnings: readonly JsonWarning[] = []): SuccessEnvelope<T> {
  return {ok: true, warnings: [...warnings], ...ownFields(result)} as SuccessEnvelope<T>
}

export function errorJson(e: MorpheusError): JsonError {
  return {
    code: e.kind,
    exitCode: e.exitCode,
    message: e.message,
    ...(e.hint ? {hint: e.hint} : {}),
    ...(e.details ? {details: e.details} : {}),
  }
}

/** The error envelope; `result` adds a command's own fields when it failed with a result (grow --auto). */
export function errorEnvelope(e: MorpheusError, warnings: readonly JsonWarning[] = [], result?: object): ErrorEnvelope {
  const {error: _ignored, ...fields} = (result ?? {}) as Record<string, unknown>
  return {ok: false, warnings: [...warnings], ...ownFields(fields), error: errorJson(e)}
}

export {wantsJson} from './wants-json.js'

/** The error kind a bare exit code stands for (UNEXPECTED for a code Morpheus does not define). */
export function kindOfExitCode(code: number): ExitCodeName {
  const found = (Object.entries(ExitCode) as Array<[ExitCodeName, number]>).find(([, v]) => v === code)
  return found && found[0] !== 'OK' ? found[0] : 'UNEXPECTED'
}

/**
 * Whatever a command threw, as a MorpheusError: oclif's parse errors (unknown flag, missing
 * argument, bad value) are usage errors (exit 2); an error carrying another oclif exit code keeps
 * it; anything else is unexpected (exit 1).
 */
export function asMorpheusError(error: unknown, commandId?: string): MorpheusError {
  if (error instanceof MorpheusError) return error
  const e = error as {oclif?: {exit?: number}; message?: string; name?: string}
  // Ctrl-C at an @inquirer prompt.
  if (e?.name === 'ExitPromptError') return new MorpheusError('INTERRUPTED', 'cancelled at the prompt; nothing was changed')
  const exit = e?.oclif?.exit
  const message = String(e?.message ?? error)
    .replace(/^Error: /, '')
    .replace(/\n?See more help with --help\s*$/, '')
    .replace(/ *\n\t/g, ': ')
  const help = `See \`morpheus ${commandId?.replaceAll(':', ' ') ?? ''}${commandId ? ' ' : ''}--help\`.`
  // A file or directory that could not be used (not a bug): exit 10, with the path and a hint.
  if (exit === undefined && e?.name !== 'CLIError')
    return toFsError(error) ?? new MorpheusError('UNEXPECTED', e?.message ?? String(error), {cause: error})
  const kind = exit === undefined || exit === 2 ? 'USAGE' : kindOfExitCode(exit)
  return new MorpheusError(kind, message, {cause: error, ...(kind === 'USAGE' ? {hint: help} : {})})
}
