// The bash and zsh completion scripts. `npm run build` writes them to dist/completion/ (see
// scripts/build.js), inside the package, so setting completion up writes no file and needs no
// refresh: `morpheus autocomplete bash` prints the line that sources the script.
//
// Each script finds the CLI next to itself (<root>/dist/completion/ -> <root>/bin/run.js), so it
// works whether or not `morpheus` is on PATH, and asks it what completes the words typed so far
// (`autocomplete:complete`, src/commands/autocomplete/complete.ts): commands, topics, flags,
// providers, sizes and forest ids all come from there, and nothing is offered twice.
import {join} from 'node:path'

/** Where the scripts are, relative to the package root. */
export const COMPLETION_DIR = join('dist', 'completion')

export type Shell = 'bash' | 'zsh'
export const SHELLS: readonly Shell[] = ['bash', 'zsh']

export function scriptFile(bin: string, shell: Shell): string {
  return shell === 'bash' ? `${bin}.bash` : `${bin}.zsh`
}

/** A string as one single-quoted shell word. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`
}

/** The one line for ~/.bashrc or ~/.zshrc that turns completion on. */
export function setupLine(path: string): string {
  const q = shellQuote(path)
  return `[ -f ${q} ] && . ${q}`
}

const BIN = /^[A-Za-z][A-Za-z0-9_-]*$/

/** The completion function's name for `bin`, and the script's opening comment for `shell`. */
function opening(bin: string, shell: 'bash' | 'zsh'): {fn: string; header: string} {
  if (!BIN.test(bin)) throw new Error(`cannot write completion for the command name "${bin}"`)
  return {
    fn: `_${bin.replaceAll('-', '_')}`,
    header: `# ${shell} completion for ${bin}: commands, flags, providers, sizes and forest ids.
# Turn it on with the line \`${bin} autocomplete ${shell}\` prints (add it to ~/.${shell}rc).
# The CLI is found next to this file, so \`${bin}\` need not be on PATH.`,
  }
}

export function bashScript(bin: string): string {
  const {fn, header} = opening(bin, 'bash')
  return `${header}
${fn}_cli="$(cd "$(dirname "\${BASH_SOURCE[0]}")/../.." 2>/dev/null && pwd -P)/bin/run.js"

${fn}_complete()
{
  local line="\${COMP_LINE:0:COMP_POINT}" cur candidate wb='' strip=0
  local -a words=() out=()
  # The words before the cursor as ${bin} sees them (bash itself splits --nodes=3 at the =).
  read -r -a words <<< "$line"
  [[ -z "$line" || "$line" == *[[:space:]] ]] && words+=("")
  (( \${#words[@]} > 1 )) || return 0
  cur="\${words[\${#words[@]}-1]}"
  # bash replaces only what follows the last = or : (when those break words): drop what precedes it.
  [[ "$COMP_WORDBREAKS" == *=* ]] && wb+='='
  [[ "$COMP_WORDBREAKS" == *:* ]] && wb+=':'
  if [[ -n "$wb" && "$cur" == *["$wb"]* ]]; then
    local tail="\${cur##*["$wb"]}"
    strip=$(( \${#cur} - \${#tail} ))
  fi
  while IFS= read -r candidate; do
    candidate="\${candidate%%$'\\t'*}"
    [[ -n "$candidate" ]] && out+=("\${candidate:strip}")
  done < <("\${${fn}_cli}" autocomplete:complete -- "\${words[@]:1}" 2>/dev/null)
  COMPREPLY=("\${out[@]}")
  return 0
}

complete -F ${fn}_complete ${bin}
`
}

export function zshScript(bin: string): string {
  const {fn, header} = opening(bin, 'zsh')
  return `${header}
typeset -g ${fn}_cli=\${\${(%):-%x}:A:h:h:h}/bin/run.js

${fn}() {
  local line
  local -a lines described
  lines=(\${(f)"$(\${${fn}_cli} autocomplete:complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null)"})
  for line in $lines; do
    # _describe takes value:description; a colon in the value is escaped.
    if [[ $line == *$'\\t'* ]]; then
      described+=("\${\${line%%$'\\t'*}//:/\\\\:}:\${line#*$'\\t'}")
    else
      described+=("\${line//:/\\\\:}")
    fi
  done
  (( \${#described} )) || return 1
  _describe -t values ${bin} described
}

(( \${+functions[compdef]} )) || { autoload -Uz compinit && compinit }
compdef ${fn} ${bin}
`
}

export function script(bin: string, shell: Shell): string {
  return shell === 'bash' ? bashScript(bin) : zshScript(bin)
}
