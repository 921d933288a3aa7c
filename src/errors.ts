import {systemErrorOf, toFsError} from './fs-errors.js'

/**
 * Errors the user sees, each with a stable exit code. Commands never print stack
 * traces for these: the message says what went wrong and the hint what to do.
 */
export const ExitCode = {
  OK: 0,
  UNEXPECTED: 1,
  USAGE: 2,
  CONFIG: 3,
  REGISTRY: 4,
  PROVIDER: 5,
  NOT_FOUND: 6,
  NOT_FORMED: 7,
  PLUGIN: 8,
  OTHER_DEVICE: 9,
  FILESYSTEM: 10,
  INTERRUPTED: 130,
} as const

export type ExitCodeName = keyof typeof ExitCode

export class MorpheusError extends Error {
  readonly kind: ExitCodeName
  readonly hint?: string
  /** Anything that should travel with --json errors (never secrets). */
  readonly details?: Record<string, unknown>

  constructor(kind: ExitCodeName, message: string, options: {hint?: string; cause?: unknown; details?: Record<string, unknown>} = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'MorpheusError'
    this.kind = kind
    this.hint = options.hint
    this.details = options.details
  }

  get exitCode(): number {
    return ExitCode[this.kind]
  }
}

/**
 * Codes whose meaning does not depend on who threw them. Every other code (AUTH, FAILED,
 * PREREQUISITE, UNREACHABLE, UNSUPPORTED, or none) takes the kind of the plugin that threw it:
 * a provider's unreachable API exits 5, a registry's unreachable server exits 4.
 */
const pluginCodeToKind: Record<string, ExitCodeName> = {
  CONFLICT: 'REGISTRY',
  LOCKED: 'REGISTRY',
  NOT_FOUND: 'NOT_FOUND',
}

/** Turn whatever a plugin threw into a MorpheusError, naming the plugin; `side` is the kind of plugin (PROVIDER, REGISTRY). */
export function fromPluginError(error: unknown, plugin: string, side: ExitCodeName): MorpheusError {
  if (error instanceof MorpheusError) return error
  const e = error as {code?: string; message?: string; hint?: string}
  // A file the plugin could not use (thrown as it is, or wrapped as the cause of the plugin's own
  // error, whose message then says what it was doing): exit 10, the reason in words and a hint.
  const sys = systemErrorOf(error)
  if (sys) return toFsError(error, {hint: e?.hint, prefix: plugin, ...(sys === error || typeof e?.message !== 'string' ? {} : {doing: e.message})})!
  const kind = (typeof e?.code === 'string' && Object.hasOwn(pluginCodeToKind, e.code) && pluginCodeToKind[e.code]) || side
  const message = e?.message ?? String(error)
  return new MorpheusError(kind, `${plugin}: ${message}`, {cause: error, hint: e?.hint})
}

export function errorCode(error: unknown): string | undefined {
  const code = (error as {code?: unknown})?.code
  return typeof code === 'string' ? code : undefined
}
