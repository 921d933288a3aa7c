import {Command} from '@oclif/core/command'
import * as Errors from '@oclif/core/errors'

import {loadConfig} from '../config/config.js'
import {ExitCode, MorpheusError} from '../errors.js'
import {OperationRunner} from '../forest/runner.js'
import {Runtime, stderrLogger} from '../runtime.js'
import {asMorpheusError, errorEnvelope, successEnvelope, type ErrorEnvelope, type JsonWarning, type SuccessEnvelope} from './json.js'
import type {ProgressRelay} from './progress.js'

/**
 * A command that failed but has a result to show (grow --auto: one forest could not be grown,
 * the others were): with --json the error envelope carries the result's fields too.
 */
export class FailedWithResult extends Error {
  constructor(
    readonly error: MorpheusError,
    readonly result: object,
  ) {
    super(error.message)
  }
}

/**
 * The one base class: --json on every command, in one envelope (src/ui/json.ts, docs/json.md):
 * oclif prints what run() returns, wrapped by toSuccessJson; errors, mapped to stable exit codes,
 * by catch(); warnings (the runtime logger's, and the command's own) travel in the envelope with
 * --json and go to stderr without. Without --json: a message and a hint on stderr, and no stack
 * traces for errors the user can act on.
 */
export abstract class MorpheusCommand extends Command {
  static enableJsonFlag = true

  private runtimeInstance?: Runtime

  /** Warnings collected for the JSON envelope (only with --json). */
  private readonly jsonWarnings: JsonWarning[] = []

  protected get runtime(): Runtime {
    this.runtimeInstance ??= new Runtime(
      this.config,
      () => loadConfig(),
      stderrLogger(this.jsonEnabled(), this.jsonEnabled() ? (w) => this.jsonWarnings.push(w) : undefined),
    )
    return this.runtimeInstance
  }

  /** A warning: in the envelope's `warnings` with --json, `warning: ...` on stderr otherwise. */
  protected warning(message: string, code?: string): void {
    this.runtime.log.warn(message, code)
  }

  /** Forget the runtime (and the config it read): after a command wrote the config file itself. Collected warnings stay. */
  protected reloadRuntime(): void {
    this.runtimeInstance = undefined
  }

  /** True when a person can answer a prompt. */
  protected get interactive(): boolean {
    return Boolean(process.stdin.isTTY) && !this.jsonEnabled()
  }

  /**
   * The one confirmation: with `yes` (--yes) nothing is asked and the answer is yes; on a terminal
   * `question` is asked (default no; `prompt` asks another way); without one a USAGE error (exit 2)
   * says "<refusal> without confirmation: stdin is not a terminal", with `hint`. Returns whether
   * the user said yes: the caller says what a "no" means (cancelled, nothing done).
   */
  protected async confirmOrRefuse(options: {
    yes: boolean
    question: string
    refusal: string
    hint: string
    prompt?: (question: string) => Promise<boolean>
  }): Promise<boolean> {
    if (options.yes) return true
    if (!this.interactive)
      throw new MorpheusError('USAGE', `${options.refusal} without confirmation: stdin is not a terminal`, {hint: options.hint})
    if (options.prompt) return options.prompt(options.question)
    const {confirm} = await import('@inquirer/prompts')
    return confirm({default: false, message: options.question})
  }

  /** Progress goes to stderr; listr2 only when stderr is a terminal. */
  protected get fancyProgress(): boolean {
    return Boolean(process.stderr.isTTY) && !this.jsonEnabled() && !process.env.CI
  }

  protected toMorpheusError(error: unknown): MorpheusError {
    return asMorpheusError(error instanceof FailedWithResult ? error.error : error, this.id)
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
   * The one way a command runs operations on forests (plant, grow, ...; src/forest/runner.ts) and
   * the one interrupt policy for them: `work` runs them through the runner it is given, their
   * phases shown on `relay`. The first Ctrl-C (or SIGTERM) says what happens, silences progress
   * and aborts the runtime's signal, so the operation under way stops and settles (records what
   * exists) and the command ends with the error settle returns (exit 130); a second one waits at
   * most `graceMs` for that record to be written, then exits 130 at once.
   */
  protected async operate<T>(relay: ProgressRelay, work: (runner: OperationRunner) => Promise<T>, graceMs = 8000): Promise<T> {
    const controller = this.runtime.interrupt
    const runner = new OperationRunner({show: relay, signal: controller.signal})
    const onSignal = (signal: NodeJS.Signals) => {
      if (controller.signal.aborted) {
        process.stderr.write(`${signal} again: quitting once the registry records what exists (at most ${graceMs / 1000}s)\n`)
        const pending = runner.ending()
        void Promise.race([pending, new Promise((r) => setTimeout(r, graceMs))]).finally(() => process.exit(130))
        return
      }
      relay.mute()
      process.stderr.write(`\n${signal}: stopping; recording what exists in the registry (press Ctrl-C again to quit sooner)\n`)
      controller.abort()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    try {
      return await work(runner)
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }

  /** The success envelope around what run() returned (oclif calls this when --json is on). */
  toSuccessJson<T extends object>(result: T): SuccessEnvelope<T> {
    return successEnvelope(result, this.jsonWarnings)
  }

  toErrorJson(error: unknown): ErrorEnvelope {
    return errorEnvelope(this.toMorpheusError(error), this.jsonWarnings, error instanceof FailedWithResult ? error.result : undefined)
  }

  protected async catch(error: Error & {exitCode?: number}): Promise<never> {
    if (error instanceof Errors.ExitError) throw error
    const e = this.toMorpheusError(error)
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(error))
    } else if (!(error instanceof FailedWithResult)) {
      // (A FailedWithResult has shown its result, which says what failed.)
      process.stderr.write(`Error: ${e.message}\n`)
      if (e.hint) process.stderr.write(`Hint: ${e.hint}\n`)
      if (e.kind === 'UNEXPECTED' && process.env.MORPHEUS_DEBUG && e.cause instanceof Error) process.stderr.write(`${e.cause.stack}\n`)
    }
    this.exit(e.exitCode ?? ExitCode.UNEXPECTED)
  }
}
