import {Command} from '@oclif/core/command'
import * as Errors from '@oclif/core/errors'

import {ExitCode, MorpheusError} from '../errors.js'
import {Runtime, stderrLogger} from '../runtime.js'

export interface ErrorJson {
  error: {code: string; exitCode: number; message: string; hint?: string; details?: Record<string, unknown>}
}

/**
 * The one base class: --json on every command (oclif prints what run() returns),
 * errors mapped to stable exit codes, a message and a hint on stderr, and no stack
 * traces for errors the user can act on.
 */
export abstract class MorpheusCommand extends Command {
  static enableJsonFlag = true

  private runtimeInstance?: Runtime

  protected get runtime(): Runtime {
    this.runtimeInstance ??= new Runtime(this.config, stderrLogger(this.jsonEnabled()))
    return this.runtimeInstance
  }

  /** Forget the runtime (and the config it read): after a command wrote the config file itself. */
  protected reloadRuntime(): void {
    this.runtimeInstance = undefined
  }

  /** True when a person can answer a prompt. */
  protected get interactive(): boolean {
    return Boolean(process.stdin.isTTY) && !this.jsonEnabled()
  }

  /** Progress goes to stderr; listr2 only when stderr is a terminal. */
  protected get fancyProgress(): boolean {
    return Boolean(process.stderr.isTTY) && !this.jsonEnabled() && !process.env.CI
  }

  protected toMorpheusError(error: unknown): MorpheusError {
    if (error instanceof MorpheusError) return error
    const e = error as {oclif?: {exit?: number}; message?: string; name?: string}
    // Ctrl-C at an @inquirer prompt.
    if (e?.name === 'ExitPromptError') return new MorpheusError('INTERRUPTED', 'cancelled at the prompt; nothing was changed')
    if (error instanceof Errors.CLIError || e?.oclif?.exit !== undefined) {
      // oclif's own parse errors (unknown flag, bad value): usage errors, exit 2.
      return new MorpheusError('USAGE', String(e.message).replace(/^Error: /, '').replace(/\n?See more help with --help\s*$/, '').replace(/ *\n\t/g, ': '), {hint: `See \`morpheus ${this.id?.replaceAll(':', ' ') ?? ''} --help\`.`})
    }
    return new MorpheusError('UNEXPECTED', e?.message ?? String(error), {cause: error})
  }

  /**
   * Until the returned function is called, Ctrl-C (or SIGTERM) ends the command at once with exit
   * 130 and this error. For commands whose every step leaves the registry consistent (each write
   * is atomic), so stopping between any two steps is safe and a re-run converges.
   */
  protected exitOnInterrupt(error: () => MorpheusError): () => void {
    const handler = () => {
      const e = error()
      if (this.jsonEnabled()) this.logJson(this.toErrorJson(e))
      else process.stderr.write(`\nError: ${e.message}\n${e.hint ? `Hint: ${e.hint}\n` : ''}`)
      process.exit(e.exitCode)
    }
    process.once('SIGINT', handler)
    process.once('SIGTERM', handler)
    return () => {
      process.off('SIGINT', handler)
      process.off('SIGTERM', handler)
    }
  }

  /**
   * The one interrupt policy for commands that change forests (plant, grow): the first Ctrl-C
   * (or SIGTERM) says what happens, silences progress and aborts the runtime's signal, so the
   * operation stops and settles (records what exists); a second one waits at most `graceMs` for
   * that record to be written, then exits 130 at once.
   */
  protected async interruptible<T>(work: () => Promise<T>, settle: () => Promise<unknown> | undefined, mute: () => void, graceMs = 8000): Promise<T> {
    const controller = this.runtime.interrupt
    const onSignal = (signal: NodeJS.Signals) => {
      if (controller.signal.aborted) {
        process.stderr.write(`${signal} again: quitting once the registry records what exists (at most ${graceMs / 1000}s)\n`)
        const pending = settle()
        void Promise.race([pending ?? Promise.resolve(), new Promise((r) => setTimeout(r, graceMs))]).finally(() => process.exit(130))
        return
      }
      mute()
      process.stderr.write(`\n${signal}: stopping; recording what exists in the registry (press Ctrl-C again to quit sooner)\n`)
      controller.abort()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    try {
      return await work()
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }

  toErrorJson(error: unknown): ErrorJson {
    const e = this.toMorpheusError(error)
    return {error: {code: e.kind, exitCode: e.exitCode, message: e.message, ...(e.hint ? {hint: e.hint} : {}), ...(e.details ? {details: e.details} : {})}}
  }

  protected async catch(error: Error & {exitCode?: number}): Promise<never> {
    if (error instanceof Errors.ExitError) throw error
    const e = this.toMorpheusError(error)
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(e))
    } else {
      process.stderr.write(`Error: ${e.message}\n`)
      if (e.hint) process.stderr.write(`Hint: ${e.hint}\n`)
      if (e.kind === 'UNEXPECTED' && process.env.MORPHEUS_DEBUG && e.cause instanceof Error) process.stderr.write(`${e.cause.stack}\n`)
    }
    this.exit(e.exitCode ?? ExitCode.UNEXPECTED)
  }
}
