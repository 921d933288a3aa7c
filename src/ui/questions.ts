/**
 * The questions of a guided set-up (SetupQuestions), as a command asks them: answers given as flags
 * first, then a prompt on a terminal, else a usage error naming the flag. Tests use
 * scriptedQuestions (src/registry/setup.ts takes either).
 */
import {MorpheusError} from '../errors.js'
import type {CoreQuestions} from '../registry/setup.js'

type Prompts = {
  input(q: {message: string; default?: string}): Promise<string>
  password(q: {message: string; mask: string}): Promise<string>
  select<T extends string>(q: {message: string; default: string; choices: Array<{name: string; value: T}>}): Promise<T>
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * Questions answered from `given` (flag values by flag name, without the dashes), else by `prompts`
 * when `interactive`, else refused with a USAGE error naming the flag. `env` is where a secret's
 * environment variable is looked up.
 */
export function questions(options: {
  given: Record<string, string | undefined>
  interactive: boolean
  prompts: () => Promise<Prompts>
  env?: NodeJS.ProcessEnv
}): CoreQuestions {
  const env = options.env ?? process.env
  const given = (name: string) => {
    const v = options.given[name]
    return v === undefined || v === '' ? undefined : v
  }
  const ask = async <T>(name: string, prompt: (p: Prompts) => Promise<T>): Promise<T> => {
    if (!options.interactive)
      throw new MorpheusError('USAGE', `--${name} is required without a terminal`, {
        hint: `Pass --${name}, or run \`morpheus registry init\` in a terminal to be asked.`,
      })
    return prompt(await options.prompts())
  }
  return {
    async choose(q) {
      return ask('setup', (p) =>
        p.select({choices: q.choices.map((c) => ({name: c.title, value: c.value})), default: q.default, message: q.message}),
      )
    },
    given,
    interactive: options.interactive,
    async secret(name, q) {
      const variable = given(name)
      if (variable !== undefined) {
        if (!ENV_NAME.test(variable)) throw new MorpheusError('USAGE', `--${name} must name an environment variable, not "${variable}"`)
        if (!env[variable])
          throw new MorpheusError('USAGE', `--${name} ${variable}: that variable is not set`, {
            hint: `export ${variable}=... first (the config keeps only the reference \${${variable}})`,
          })
        return `\${${variable}}`
      }
      return ask(name, (p) => p.password({mask: '*', message: q.message}))
    },
    async text(name, q) {
      return given(name) ?? ask(name, (p) => p.input({message: q.message, ...(q.default === undefined ? {} : {default: q.default})}))
    },
  }
}

/** The terminal's prompts (@inquirer/prompts, loaded only when a question is asked). */
export async function terminalPrompts(): Promise<Prompts> {
  const {input, password, select} = await import('@inquirer/prompts')
  return {input, password, select} as Prompts
}
