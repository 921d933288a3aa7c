import type {Progress} from '../forest/deps.js'
import type {Phase, PhaseRunner} from '../forest/runner.js'

/**
 * Progress of the forest engine, shown phase by phase: with listr2 on a terminal, otherwise as
 * plain lines on stderr (stdout stays free for results and --json; with MORPHEUS_DEBUG plain lines
 * with timings, even with --json). Once muted (the user pressed Ctrl-C and was told what happens
 * next) nothing more is printed.
 */
export class ProgressRelay implements Progress, PhaseRunner {
  private current?: (message: string) => void
  private muted = false
  /** MORPHEUS_DEBUG: every line on stderr, --json or not, with the seconds since the start. */
  private readonly debug = Boolean(process.env.MORPHEUS_DEBUG)
  private readonly started = Date.now()

  constructor(private readonly options: {fancy: boolean; quiet?: boolean}) {}

  mute(): void {
    this.muted = true
  }

  private say(line: string): void {
    if (this.muted) return
    if (this.debug) process.stderr.write(`[+${((Date.now() - this.started) / 1000).toFixed(1)}s] ${line}\n`)
    else if (!this.options.quiet) process.stderr.write(`${line}\n`)
  }

  report(message: string): void {
    if (this.muted) return
    if (this.current) this.current(message)
    else this.say(`  ${message}`)
  }

  /** Run phases in order, each shown as one step. */
  async run(phases: Phase[]): Promise<void> {
    if (this.options.fancy && !this.options.quiet && !this.debug) {
      const {Listr} = await import('listr2')
      const list = new Listr(
        phases.map((p) => ({
          task: async (_ctx: unknown, task: {output: string}) => {
            this.current = (m) => {
              if (!this.muted) task.output = m
            }
            try {
              await p.run()
            } finally {
              this.current = undefined
            }
          },
          title: p.title,
        })),
        {exitOnError: true, registerSignalListeners: false, rendererOptions: {collapseErrors: false}},
      )
      await list.run()
      return
    }
    for (const phase of phases) {
      this.say(`${phase.title}...`)
      await phase.run()
    }
  }
}
