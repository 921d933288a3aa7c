export interface Phase {
  title: string
  run(report: (message: string) => void): Promise<void>
}

/**
 * Run phases in order. On a terminal they are shown with listr2; otherwise each phase
 * and each report is a plain line on stderr (stdout stays free for results and --json).
 */
export async function runPhases(phases: Phase[], options: {fancy: boolean; quiet?: boolean}): Promise<void> {
  if (options.fancy) {
    const {Listr} = await import('listr2')
    const list = new Listr(
      phases.map((p) => ({
        task: async (_ctx: unknown, task: {output: string}) => p.run((m) => (task.output = m)),
        title: p.title,
      })),
      {exitOnError: true, registerSignalListeners: false, rendererOptions: {collapseErrors: false}},
    )
    await list.run()
    return
  }
  const say = (line: string) => {
    if (!options.quiet) process.stderr.write(`${line}\n`)
  }
  for (const phase of phases) {
    say(`${phase.title}...`)
    await phase.run((m) => say(`  ${m}`))
  }
}
