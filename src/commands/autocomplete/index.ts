import {existsSync} from 'node:fs'
import {basename, join} from 'node:path'

import * as Args from '@oclif/core/args'

import {COMPLETION_DIR, SHELLS, scriptFile, setupLine, type Shell} from '../../autocomplete/scripts.js'
import {MorpheusError} from '../../errors.js'
import {MorpheusCommand} from '../../ui/base-command.js'

export interface AutocompleteResult {
  shell: Shell
  /** The completion script, part of the installed package. */
  script: string
  /** The line to add to ~/.bashrc or ~/.zshrc. */
  setup: string
}

export default class Autocomplete extends MorpheusCommand {
  static summary = 'Print the line that turns on shell completion (bash or zsh).'
  static description = `Commands, flags, providers, sizes and forest ids complete on TAB. The line sources a script that is part of the installed package and finds the CLI next to itself, so \`morpheus\` need not be on PATH; installing plugins or changing forest.sizes needs no refresh.

SHELL defaults to the one in $SHELL.`
  static examples = [
    {command: '<%= config.bin %> autocomplete bash >> ~/.bashrc', description: 'Turn on completion in new bash shells.'},
    {command: '<%= config.bin %> autocomplete zsh >> ~/.zshrc', description: 'The same for zsh.'},
  ]
  static args = {
    shell: Args.string({description: 'The shell: bash or zsh (default: from $SHELL).', options: [...SHELLS]}),
  }

  async run(): Promise<AutocompleteResult> {
    const {args} = await this.parse(Autocomplete)
    const shell = (args.shell ?? basename(process.env.SHELL ?? '')) as Shell
    if (!SHELLS.includes(shell)) {
      throw new MorpheusError(
        'USAGE',
        `completion is available for bash and zsh; ${process.env.SHELL ? `$SHELL is ${process.env.SHELL}` : '$SHELL is not set'}`,
        {
          hint: 'Name the shell: morpheus autocomplete bash (or zsh).',
        },
      )
    }
    const script = join(this.config.root, COMPLETION_DIR, scriptFile(this.config.bin, shell))
    if (!existsSync(script)) {
      throw new MorpheusError('UNEXPECTED', `the ${shell} completion script is missing from this installation: ${script}`, {
        hint: 'Reinstall morpheus (in a clone: npm run build).',
      })
    }
    const setup = setupLine(script)
    if (!this.jsonEnabled()) {
      this.log(setup)
      if (process.stdout.isTTY)
        process.stderr.write(
          `Add that line to ~/.${shell}rc (${this.config.bin} autocomplete ${shell} >> ~/.${shell}rc), then open a new shell.\n`,
        )
    }
    return {script, setup, shell}
  }
}
