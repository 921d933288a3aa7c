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

export function errorCode(error: unknown): string | undefined {
  const code = (error as {code?: unknown})?.code
  return typeof code === 'string' ? code : undefined
}

/** `error` itself when it is a MorpheusError; anything else is a bug, not a plugin's failure (plugins' calls are mapped where they are made). */
export function asUnexpected(error: unknown): MorpheusError {
  return error instanceof MorpheusError
    ? error
    : new MorpheusError('UNEXPECTED', (error as Error)?.message ?? String(error), {cause: error})
}
