// What TAB offers, computed from oclif's command list (the manifests: no command module is
// loaded). The bash and zsh scripts (src/autocomplete/scripts.ts) pass the words typed so far to
// the hidden `morpheus autocomplete:complete` and show what it prints, so both shells offer the
// same, and commands, flags and values of plugins installed later complete without a refresh.
import type {Config} from '@oclif/core'

/** A value source named by an argument or flag: `forest`, `provider`, `size` (see commandValues). */
export type ValueKind = 'forest' | 'provider' | 'size'

export interface CompletionFlag {
  name: string
  char?: string
  /** Takes a value (`--nodes 3`), as opposed to a switch (`--yes`). */
  takesValue: boolean
  multiple: boolean
  options?: string[]
  summary?: string
}

export interface CompletionArg {
  name: string
  options?: string[]
}

export interface CompletionCommand {
  /** oclif's id, `config:get`. */
  id: string
  summary?: string
  args: CompletionArg[]
  flags: CompletionFlag[]
}

export interface CompletionModel {
  commands: CompletionCommand[]
  /** Descriptions of topics (`config`, `registry`, `plugins`). */
  topics: Record<string, string | undefined>
  /** Other names of commands (aliases): understood when typed, never offered. */
  aliases: Record<string, string>
}

export interface Candidate {
  value: string
  description?: string
}

/** Looks up the values of a kind; failures must resolve to [] (completion never reports errors). */
export type ValueSource = (kind: ValueKind) => Promise<string[]>

/** Argument and flag names whose values come from a source rather than a fixed list. */
const KINDS: Record<string, ValueKind> = {forest: 'forest', provider: 'provider', size: 'size'}

const HELP: CompletionFlag = {multiple: false, name: 'help', summary: 'Show help', takesValue: false}

/** The first line of a summary, with oclif's `<%= config.bin %>` filled in. */
const firstLine = (s: unknown, bin: string) =>
  typeof s === 'string'
    ? s
        .split('\n')[0]
        .replaceAll(/<%=\s*config\.bin\s*%>/g, bin)
        .trim() || undefined
    : undefined

type LoadableCommand = Pick<Config['commands'][number], 'aliases' | 'args' | 'flags' | 'hidden' | 'id' | 'summary' | 'description'>

/** The model from oclif's commands and topics; hidden commands and flags are left out. */
export function completionModel(
  bin: string,
  commands: LoadableCommand[],
  topics: Array<{name: string; description?: string; hidden?: boolean}>,
): CompletionModel {
  const out: CompletionCommand[] = []
  const aliases: Record<string, string> = {}
  for (const c of commands) {
    if (c.hidden) continue
    // oclif lists each alias as a command of its own, with the alias as its id.
    if (c.aliases?.includes(c.id)) continue
    const flags = Object.entries(c.flags ?? {})
      .filter(([, f]) => !f.hidden)
      .map(([name, f]) => ({
        char: f.char,
        multiple: Boolean((f as {multiple?: boolean}).multiple),
        name,
        options: f.type === 'option' && Array.isArray(f.options) ? f.options.map(String) : undefined,
        summary: firstLine(f.summary ?? f.description, bin),
        takesValue: f.type === 'option',
      }))
    const args = Object.entries(c.args ?? {}).map(([name, a]) => ({
      name,
      options: Array.isArray(a.options) ? a.options.map(String) : undefined,
    }))
    out.push({args, flags, id: c.id, summary: firstLine(c.summary ?? c.description, bin)})
    for (const alias of c.aliases ?? []) aliases[alias] = c.id
  }
  const topicMap: Record<string, string | undefined> = {}
  for (const t of topics) if (!t.hidden) topicMap[t.name] = firstLine(t.description, bin)
  return {aliases, commands: out, topics: topicMap}
}

function uniqueByValue(list: Candidate[]): Candidate[] {
  const seen = new Map<string, Candidate>()
  for (const c of list) if (!seen.has(c.value)) seen.set(c.value, c)
  return [...seen.values()]
}

/**
 * What completes `words`: the words after the program name, the last being the one under the
 * cursor ('' after a space). Commands and topics one word at a time (each once), then the
 * command's arguments (fixed options, or forest ids, providers and sizes), its flags after `-`,
 * and the values of a flag that takes one (`--flag <TAB>`, `--flag=<TAB>`).
 */
export async function complete(model: CompletionModel, words: string[], values: ValueSource): Promise<Candidate[]> {
  const typed = words.length === 0 ? [''] : words
  const before = typed.slice(0, -1)
  const cur = typed.at(-1)!
  const byId = new Map(model.commands.map((c) => [c.id, c]))
  const resolveId = (id: string) => byId.get(id) ?? byId.get(model.aliases[id] ?? '')
  const isPrefix = (id: string) => model.commands.some((c) => c.id.startsWith(`${id}:`))

  // The command: the longest run of leading words that names one (`plugins install`).
  let command: CompletionCommand | undefined
  let used = 0
  for (let i = 1; i <= before.length; i++) {
    const w = before[i - 1]
    if (w.startsWith('-')) break
    const id = before.slice(0, i).join(':')
    const found = resolveId(id)
    if (found) {
      command = found
      used = i
    } else if (!isPrefix(id)) {
      break
    }
  }

  const out: Candidate[] = []
  const onlyWords = before.every((w) => !w.startsWith('-'))
  // The next word of a command id: right after the program, a topic, or a command that has subcommands.
  if (onlyWords && !cur.startsWith('-') && (command ? used === before.length : before.length === 0 || isPrefix(before.join(':')))) {
    out.push(...nextWords(model, before))
  }
  // `plugins <TAB>` offers its subcommands, not its flags (`plugins -<TAB>` does).
  if (command) out.push(...(await commandValues(command, before.slice(used), cur, values, out.length > 0)))
  return uniqueByValue(out.filter((c) => c.value.startsWith(cur)))
}

/** The distinct words that can follow `prefix` in a command id, each with its summary or topic description. */
function nextWords(model: CompletionModel, prefix: string[]): Candidate[] {
  const depth = prefix.length
  const head = prefix.length > 0 ? `${prefix.join(':')}:` : ''
  const out = new Map<string, Candidate>()
  for (const c of [...model.commands].sort((a, b) => a.id.localeCompare(b.id))) {
    if (!c.id.startsWith(head)) continue
    const parts = c.id.split(':')
    if (parts.length <= depth) continue
    const word = parts[depth]
    const topicId = parts.slice(0, depth + 1).join(':')
    const isCommand = parts.length === depth + 1
    const description = isCommand ? c.summary : model.topics[topicId]
    const known = out.get(word)
    // A word that is both a command and a topic (plugins) keeps the command's summary.
    if (!known || (isCommand && !known.description)) out.set(word, {description: description ?? known?.description, value: word})
  }
  return [...out.values()]
}

async function valuesOf(kindName: string, options: string[] | undefined, values: ValueSource): Promise<string[]> {
  if (options) return options
  const kind = KINDS[kindName]
  return kind ? values(kind) : []
}

async function commandValues(
  command: CompletionCommand,
  rest: string[],
  cur: string,
  values: ValueSource,
  subcommands: boolean,
): Promise<Candidate[]> {
  const flags = [...command.flags, HELP]
  const byName = (name: string) => flags.find((f) => f.name === name)
  const byChar = (char: string) => flags.find((f) => f.char === char)
  const used = new Set<string>()
  let pending: CompletionFlag | undefined
  let position = 0
  let onlyArgs = false
  for (const w of rest) {
    if (pending) {
      pending = undefined
      continue
    }
    if (onlyArgs || w === '' || w === '-' || !w.startsWith('-')) {
      position++
      continue
    }
    if (w === '--') {
      onlyArgs = true
      continue
    }
    const long = w.startsWith('--')
    const flag = long ? byName(w.slice(2).split('=')[0]) : byChar(w[1])
    if (!flag) continue
    used.add(flag.name)
    const inline = long ? w.includes('=') : w.length > 2
    if (flag.takesValue && !inline) pending = flag
  }

  // `--flag <TAB>`: that flag's values.
  if (pending) return (await valuesOf(pending.name, pending.options, values)).map((value) => ({value}))
  // `--flag=<TAB>`: the same, as whole words.
  if (!onlyArgs && cur.startsWith('--') && cur.includes('=')) {
    const name = cur.slice(2, cur.indexOf('='))
    const flag = byName(name)
    if (!flag?.takesValue) return []
    return (await valuesOf(flag.name, flag.options, values)).map((value) => ({value: `--${name}=${value}`}))
  }
  const flagCandidates = () =>
    flags
      .filter((f) => f.multiple || !used.has(f.name))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((f) => ({description: f.summary, value: `--${f.name}`}))
  if (!onlyArgs && cur.startsWith('-')) return flagCandidates()

  const arg = command.args[position]
  if (arg) return (await valuesOf(arg.name, arg.options, values)).map((value) => ({value}))
  // Every argument given: what is left to type are flags.
  return cur === '' && !onlyArgs && !subcommands ? flagCandidates() : []
}
