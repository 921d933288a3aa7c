import type {Hook} from '@oclif/core'

/**
 * After @oclif/plugin-autocomplete (re)wrote its bash and zsh scripts (`morpheus
 * autocomplete [bash|zsh]`, `--refresh-cache`, `autocomplete:create`, or its refresh
 * after `plugins install`), add forest id completion to them
 * (src/autocomplete/completion-scripts.ts).
 *
 * This runs after every command: it imports nothing and returns at once unless the
 * command was one of those two.
 */
const hook: Hook<'postrun'> = async function (options) {
  const id = options.Command?.id
  if (id !== 'autocomplete' && id !== 'autocomplete:create') return
  try {
    const {addForestCompletion} = await import('../autocomplete/completion-scripts.js')
    const results = await addForestCompletion(options.config)
    for (const r of results) {
      if (!r.patched) this.warn(`${r.file} does not look as expected; forest ids will not complete (command names and flags still do)`)
    }
  } catch (error) {
    this.warn(`could not add forest id completion: ${(error as Error).message}`)
  }
}

export default hook
