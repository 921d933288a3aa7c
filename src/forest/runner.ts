import {MorpheusError} from '../errors.js'
import type {ForestOperation as RunningOperation} from '../plugin-api/index.js'

// The one way an operation on a forest runs (plant, grow, and whatever changes live forests next):
// claim it in the registry, create, wait until formed, then finish, or settle when anything stops
// it. An operation implements `Operation`; a command runs it through `MorpheusCommand.operate()`
// (src/ui/base-command.ts), which owns Ctrl-C; a test runs it with `new OperationRunner()`.
// docs/architecture.md ("An operation") shows an example.

/** One step of an operation as progress shows it. */
export interface Phase {
  title: string
  run(): Promise<void>
}

/** How phases are shown: the command's ProgressRelay (listr2 on a terminal, lines otherwise). */
export interface PhaseRunner {
  run(phases: Phase[]): Promise<void>
}

/** The claim went through: the forest records this operation, and what it will make is reserved. */
export interface Claimed {
  kind: 'claimed'
}

/** The claim was refused (a guard checked inside the compare-and-swap): nothing was written. */
export interface Refused {
  kind: 'refused'
  reason: string
}

/** Another operation is changing the forest right now: nothing was written. */
export interface Busy {
  kind: 'busy'
  operation: RunningOperation
  message: string
}

export type Claim = Claimed | Refused | Busy

/** What running an operation came to: done with its result, or not claimed (refused, busy). */
export type Outcome<R, C extends Claim = Claim> = {kind: 'done'; result: R} | Exclude<C, Claimed>

/**
 * An operation on a forest, as the runner drives it. The runner calls, in order: claim(); if
 * claimed, create() and waitFormed() as two shown phases (titles() names them); then finish().
 * Whatever any of them throws (an error, or the interrupt signal firing) goes to settle(), once.
 */
export interface Operation<R, C extends Claim = Claim> {
  /** The claim's phase title (plant shows it); without one the claim runs unshown (grow). */
  readonly claimTitle?: string
  /**
   * Claim the forest in the registry with one compare-and-swap (RegistryStore.update): record the
   * operation (src/forest/operation.ts) and reserve what it will make, or say why not. Nothing
   * exists yet; anything the claim writes is settled if it throws afterwards.
   */
  claim(): Promise<C>
  /** The titles of the two phases after a successful claim. */
  titles(): {create: string; wait: string}
  /** Make what the operation makes (nodes created, reconfigured, replaced or removed). */
  create(): Promise<void>
  /** Wait until the forest has formed again: every node routes to the others, JetStream has a leader. */
  waitFormed(): Promise<void>
  /** Record the end in one write (the operation cleared) and return the result. */
  finish(): Promise<R>
  /**
   * Record how a stopped operation ended (src/forest/settle.ts, the one policy) and return the
   * error to end with. Called at most once, also when the claim never wrote (then: the error).
   */
  settle(error: unknown): Promise<MorpheusError>
}

/** The claim's answer when another operation is recorded on the forest. */
export function busy(operation: RunningOperation): Busy {
  return {
    kind: 'busy',
    message: `a ${operation.kind} on ${operation.device} (pid ${operation.pid}, started ${operation.started_at}) is changing the forest right now`,
    operation,
  }
}

/** How long a second Ctrl-C waits for the first one's settle to start before settling itself (ms). */
export const SETTLE_START_MS = 2000

/** A MorpheusError for anything thrown (the kind kept, or UNEXPECTED). */
export function asError(error: unknown): MorpheusError {
  return error instanceof MorpheusError
    ? error
    : new MorpheusError('UNEXPECTED', String((error as Error)?.message ?? error), {cause: error})
}

interface Run {
  claimed: boolean
  /** run() has returned or thrown. */
  over: boolean
  settling?: Promise<MorpheusError>
  settle(error: unknown): Promise<MorpheusError>
  /** Resolves when settle() starts or run() is over, whichever comes first. */
  moved: Promise<void>
}

/**
 * Runs operations one at a time (grow --auto runs one per forest) and knows the one under way, so
 * a second Ctrl-C can wait for its record (ending()).
 */
export class OperationRunner {
  private current?: Run

  constructor(private readonly options: {show?: PhaseRunner; signal?: AbortSignal} = {}) {}

  /** Where the operation under way is: nothing, claiming, claimed (making, waiting), settling. */
  get state(): 'idle' | 'claiming' | 'claimed' | 'settling' {
    const run = this.current
    if (!run) return 'idle'
    return run.settling ? 'settling' : run.claimed ? 'claimed' : 'claiming'
  }

  async run<R, C extends Claim>(op: Operation<R, C>): Promise<Outcome<R, C>> {
    if (this.options.signal?.aborted) throw new MorpheusError('INTERRUPTED', 'interrupted before anything was created; nothing was changed')
    let move!: () => void
    const run: Run = {
      claimed: false,
      moved: new Promise((resolve) => (move = resolve)),
      over: false,
      settle: (error) => {
        move()
        return (run.settling ??= op.settle(error))
      },
    }
    this.current = run
    try {
      let claim: C | undefined
      await this.show([{run: async () => void (claim = await op.claim()), title: op.claimTitle}])
      if (claim!.kind !== 'claimed') return claim as Exclude<C, Claimed>
      run.claimed = true
      // Interrupted while the claim was written: it is settled, and nothing is made.
      if (this.options.signal?.aborted) throw new MorpheusError('INTERRUPTED', 'interrupted')
      const titles = op.titles()
      await this.show([
        {run: () => op.create(), title: titles.create},
        {run: () => op.waitFormed(), title: titles.wait},
      ])
      // Interrupted during the last look (it saw the forest formed): stopped all the same, as the user was told.
      if (this.options.signal?.aborted) throw new MorpheusError('INTERRUPTED', 'interrupted')
      return {kind: 'done', result: await op.finish()}
    } catch (error) {
      throw await run.settle(error)
    } finally {
      run.over = true
      move()
      this.current = undefined
    }
  }

  /**
   * For a second Ctrl-C: the record of the operation under way. The first Ctrl-C's settle is
   * usually running (or starts once the provider's calls return): wait up to SETTLE_START_MS for
   * it, and settle directly only when it does not come. Undefined when nothing is claimed (an
   * operation still claiming stops at its next step: the signal has fired) or the operation
   * finished meanwhile.
   */
  async ending(waitMs = SETTLE_START_MS): Promise<MorpheusError | undefined> {
    const run = this.current
    if (!run) return undefined
    if (!run.settling) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([run.moved, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))])
      clearTimeout(timer)
    }
    if (run.settling) return run.settling
    return run.claimed && !run.over ? run.settle(new MorpheusError('INTERRUPTED', 'interrupted')) : undefined
  }

  /** Phases through the command's PhaseRunner; untitled ones (a claim not shown) run unshown. */
  private async show(phases: Array<{title?: string; run(): Promise<void>}>): Promise<void> {
    if (phases.some((p) => p.title === undefined)) {
      for (const p of phases) await p.run()
      return
    }
    await (this.options.show ?? inOrder).run(phases as Phase[])
  }
}

const inOrder: PhaseRunner = {
  async run(phases) {
    for (const p of phases) await p.run()
  },
}
