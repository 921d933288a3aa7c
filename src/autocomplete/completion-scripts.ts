// Forest id completion for the bash and zsh scripts that @oclif/plugin-autocomplete
// generates under <cacheDir>/autocomplete/functions/. Run by the postrun hook
// (src/hooks/autocomplete-postrun.ts) right after those scripts were (re)written.
//
// Only two things of the generated scripts are relied on, both part of how
// plugin-autocomplete has always named things, and checked before anything is changed:
// - bash: a function `_<bin>_autocomplete` registered with `complete ... -F _<bin>_autocomplete <bin>`;
//   a wrapper is appended and registered in its place (same `complete` options, same aliases).
// - zsh: the autoloaded file `_<bin>` defines `_<bin>()` and ends with the call `_<bin>`;
//   before that call the generated function is renamed `_<bin>_generated` and a wrapper
//   takes its name.
// The wrapper completes the first argument of every command whose first argument is
// named `forest` (status, teardown, grow, ...) with `<bin> autocomplete:forests`, and
// hands everything else (command ids, flags) to the generated function.
import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {Config} from '@oclif/core'

/** Commands whose first argument has this name complete it with forest ids. */
export const FOREST_ARG = 'forest'

const BEGIN = '# >>> morpheus: forest id completion >>>'
const END = '# <<< morpheus: forest id completion <<<'
const SAFE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

export interface ForestCommand {
  /** The words that name the command on the command line (`config get` is ['config', 'get']). */
  words: string[]
  /** Its flags that take a value (`--nodes 3`): the next word is not an argument. */
  valueFlags: string[]
}

type CommandLike = Pick<Config['commands'][number], 'aliases' | 'args' | 'flags' | 'hidden' | 'id'>

export function forestCommands(commands: CommandLike[]): ForestCommand[] {
  const out = new Map<string, ForestCommand>()
  for (const c of commands) {
    if (c.hidden || Object.keys(c.args ?? {})[0] !== FOREST_ARG) continue
    const valueFlags = Object.values(c.flags ?? {})
      .filter((f) => f.type === 'option')
      .flatMap((f) => [`--${f.name}`, ...(f.char ? [`-${f.char}`] : [])])
      .filter((f) => SAFE.test(f.replace(/^-+/, '')))
    for (const id of [c.id, ...(c.aliases ?? [])]) {
      const words = id.split(':')
      if (words.every((w) => SAFE.test(w))) out.set(id, {valueFlags, words})
    }
  }
  return [...out.keys()].sort().map((id) => out.get(id)!)
}

/** 'status|' 'grow|--nodes -n': the command's words, then its value flags (all shell-safe). */
function specs(cmds: ForestCommand[]): string {
  return cmds.map((c) => `'${c.words.join(' ')}|${c.valueFlags.join(' ')}'`).join(' ')
}

export function bashBlock(bin: string, cmds: ForestCommand[], completeLines: string[]): string {
  return `${BEGIN}
# Added by ${bin} (src/hooks/autocomplete-postrun.ts): the first argument of these
# commands completes with the forest ids printed by \`${bin} autocomplete:forests\`.
_${bin}_autocomplete_forests()
{
  local IFS=$' \\t\\n' cur="\${COMP_WORDS[COMP_CWORD]}" spec i n pos skip id
  local -a words
  if [[ "$cur" != -* ]]; then
    for spec in ${specs(cmds)}; do
      words=(\${spec%%|*})
      n=\${#words[@]}
      (( COMP_CWORD > n )) || continue
      [[ "\${COMP_WORDS[*]:1:n}" == "\${words[*]}" ]] || continue
      # Count the arguments before the cursor (flags and their values are not arguments).
      pos=0 skip=0
      for (( i = n + 1; i < COMP_CWORD; i++ )); do
        if (( skip )); then [[ "\${COMP_WORDS[i]}" == = ]] || skip=0; continue; fi
        case "\${COMP_WORDS[i]}" in
          =) skip=1 ;;
          -*) [[ " \${spec#*|} " == *" \${COMP_WORDS[i]} "* ]] && skip=1 ;;
          *) pos=$((pos + 1)) ;;
        esac
      done
      (( pos == 0 )) || break
      COMPREPLY=()
      while IFS= read -r id; do
        [[ -n "$id" && "$id" == "$cur"* ]] && COMPREPLY+=("$id")
      done < <(${bin} autocomplete:forests 2>/dev/null)
      return 0
    done
  fi
  _${bin}_autocomplete "$@"
}
${completeLines.join('\n')}
${END}
`
}

export function zshBlock(bin: string, cmds: ForestCommand[]): string {
  return `${BEGIN}
# Added by ${bin} (src/hooks/autocomplete-postrun.ts): the first argument of these
# commands completes with the forest ids printed by \`${bin} autocomplete:forests\`.
zmodload zsh/parameter 2>/dev/null
functions[_${bin}_generated]=$functions[_${bin}]
_${bin}() {
  local cur=\${words[CURRENT]} spec i n pos skip
  local -a cw ids expl
  if [[ $cur != -* ]]; then
    for spec in ${specs(cmds)}; do
      cw=(\${=spec%%|*})
      n=\${#cw}
      (( CURRENT > n + 1 )) || continue
      [[ "\${words[2,n+1]}" == "\${cw[*]}" ]] || continue
      # Count the arguments before the cursor (flags and their values are not arguments).
      pos=0 skip=0
      for (( i = n + 2; i < CURRENT; i++ )); do
        if (( skip )); then skip=0; continue; fi
        case \${words[i]} in
          -*=*) ;;
          -*) [[ " \${spec#*|} " == *" \${words[i]} "* ]] && skip=1 ;;
          *) pos=$((pos + 1)) ;;
        esac
      done
      (( pos == 0 )) || break
      ids=(\${(f)"$(${bin} autocomplete:forests 2>/dev/null)"})
      _wanted forests expl 'forest id' compadd -a ids
      return
    done
  fi
  _${bin}_generated "$@"
}
${END}
`
}

function withoutBlock(text: string): string {
  const start = text.indexOf(BEGIN)
  if (start === -1) return text
  const end = text.indexOf(END, start)
  if (end === -1) return text
  return text.slice(0, start) + text.slice(end + END.length).replace(/^\n/, '')
}

const escape = (s: string) => s.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** The generated bash script with the wrapper appended, or undefined if it does not look as expected. */
export function patchBash(text: string, bin: string, cmds: ForestCommand[]): string | undefined {
  const base = withoutBlock(text)
  const fn = `_${bin}_autocomplete`
  if (!new RegExp(`^${escape(fn)}\\s*\\(\\)`, 'm').test(base)) return undefined
  const completeLines: string[] = []
  for (const m of base.matchAll(new RegExp(`^complete\\b(.*?)\\s-F\\s+${escape(fn)}\\s+(\\S+)\\s*$`, 'gm'))) {
    completeLines.push(`complete${m[1]} -F ${fn}_forests ${m[2]}`)
  }
  if (completeLines.length === 0) return undefined
  if (cmds.length === 0) return base
  return `${base.trimEnd()}\n\n${bashBlock(bin, cmds, completeLines)}`
}

/** The generated zsh function file with the wrapper inserted before its final call, or undefined. */
export function patchZsh(text: string, bin: string, cmds: ForestCommand[]): string | undefined {
  const base = withoutBlock(text)
  const fn = `_${bin}`
  if (!new RegExp(`^${escape(fn)}\\s*\\(\\)`, 'm').test(base)) return undefined
  const lines = base.trimEnd().split('\n')
  if (lines.at(-1)?.trim() !== fn) return undefined
  if (cmds.length === 0) return base
  lines.splice(-1, 0, zshBlock(bin, cmds).trimEnd())
  return lines.join('\n') + '\n'
}

export interface PatchResult {
  file: string
  patched: boolean
}

/** Add forest id completion to the generated bash and zsh scripts (those that exist). */
export async function addForestCompletion(config: Pick<Config, 'bin' | 'cacheDir' | 'commands'>): Promise<PatchResult[]> {
  const {bin} = config
  if (!SAFE.test(bin)) return []
  const cmds = forestCommands(config.commands)
  const dir = join(config.cacheDir, 'autocomplete', 'functions')
  const targets: Array<[string, typeof patchBash]> = [
    [join(dir, 'bash', `${bin}.bash`), patchBash],
    [join(dir, 'zsh', `_${bin}`), patchZsh],
  ]
  const results: PatchResult[] = []
  for (const [file, patch] of targets) {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch {
      continue
    }
    const next = patch(text, bin, cmds)
    if (next !== undefined && next !== text) await writeFile(file, next)
    results.push({file, patched: next !== undefined})
  }
  return results
}
