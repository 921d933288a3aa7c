import {execFileSync, spawn} from 'node:child_process'
import {mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'

import {forestIdsCachePath, forgetForestIds} from '../../src/autocomplete/forests-cache.js'
import {forestCommands, patchBash} from '../../src/autocomplete/completion-scripts.js'
import {BIN, Sandbox, collect} from '../helpers/cli.js'

/**
 * Shell completion through the built CLI: the scripts plugin-autocomplete generates,
 * with forest ids added by our postrun hook, run in real bash and zsh processes; and
 * the hidden `autocomplete:forests` command they call, with its short-lived cache.
 */

function registryDoc(ids: string[]): string {
  const forests: Record<string, unknown> = {}
  const nodes: Record<string, unknown[]> = {}
  ids.forEach((id, i) => {
    forests[id] = {id, provider: 'local', size: 'small', status: 'active', created_at: `2026-01-0${i + 1}T00:00:00Z`, last_expansion: null, node_count: 1}
    nodes[id] = []
  })
  return JSON.stringify({version: 1, updated_at: '2026-01-01T00:00:00Z', forests, nodes})
}

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}

/** A sandbox whose PATH has `morpheus` (the built CLI), as a user's shell would. */
function completionSandbox(): Sandbox {
  const sb = new Sandbox()
  const bin = join(sb.dir, 'bin')
  mkdirSync(bin)
  symlinkSync(BIN, join(bin, 'morpheus'))
  sb.env.PATH = `${bin}:${dirname(process.execPath)}:${process.env.PATH}`
  return sb
}

const lines = (s: string) => s.split('\n').filter((l) => l !== '')

/**
 * Completion as bash runs it: eval the line `morpheus autocomplete script bash` prints
 * (what ~/.bashrc holds), set COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT, call the
 * function registered with `complete -F` for morpheus, print COMPREPLY.
 * `words` are bash's words (it splits `--nodes=3` into `--nodes`, `=`, `3`); the last is the one completed.
 */
async function bashComplete(sb: Sandbox, setup: string, words: string[], script?: string): Promise<string[]> {
  const program = `
${script ? 'source "$3"' : 'eval "$1"'}
shift 3
COMP_WORDS=("$@")
COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
COMP_LINE="\${COMP_WORDS[*]}"
COMP_POINT=\${#COMP_LINE}
spec=$(complete -p morpheus) || exit 3
fn=\${spec##*-F }
fn=\${fn%% *}
COMPREPLY=()
"$fn" morpheus "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "\${COMPREPLY[@]}"
`
  const child = spawn('bash', ['--norc', '--noprofile', '-c', program, 'bash', setup, '', script ?? '', ...words], {cwd: sb.dir, env: sb.env, stdio: ['ignore', 'pipe', 'pipe']})
  const r = await collect(child, 30000)
  if (r.code !== 0 || r.stderr !== '') throw new Error(`bash completion of ${JSON.stringify(words)} exited ${r.code}\n${r.stdout}\n${r.stderr}`)
  return lines(r.stdout)
}

/**
 * Types a command line and TAB into an interactive zsh on a pseudo-terminal (zsh/zpty)
 * after the user's setup line, and records every candidate the completion system adds
 * (compadd wrapped) between "<ready>" and "<done>" in the output file.
 */
const ZSH_CAPTURE = String.raw`
zmodload zsh/zpty || exit 3
local setup=$1 out=$2 line=$3
zpty z zsh -f -i
zpty -w z "PROMPT=''; CAPTURE_OUT=${'$'}{(q)out}"
zpty -w z "eval ${'$'}{(q)setup}"
zpty -w z 'compadd() { if [[ ${'$'}{@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi; local -a __hits; builtin compadd -A __hits "$@"; (( $#__hits )) && print -rl -- $__hits >> $CAPTURE_OUT; builtin compadd "$@" }'
zpty -w z '_capture_done() { print -r -- "<done>" >> $CAPTURE_OUT }'
zpty -w z '_capture_complete() { comppostfuncs=(_capture_done); zle complete-word }; zle -N _capture_complete'
zpty -w z "zstyle ':completion:*' insert-tab false; bindkey '^I' _capture_complete"
zpty -w z 'print -r -- "<ready>" > $CAPTURE_OUT'
wait_for() {
  repeat 400; do
    [[ -f $out ]] && grep -q $1 $out && return 0
    sleep 0.05
  done
  return 1
}
wait_for '<ready>' || { zpty -d z; exit 4 }
zpty -w -n z "$line"$'\t'
wait_for '<done>'
local rc=$?
zpty -d z
exit $rc
`

let zshRuns = 0
async function zshComplete(sb: Sandbox, setup: string, line: string): Promise<string[]> {
  const script = join(sb.dir, 'capture.zsh')
  writeFileSync(script, ZSH_CAPTURE)
  const out = join(sb.dir, `zsh-${++zshRuns}.out`)
  const r = await collect(spawn('zsh', ['-f', script, setup, out, line], {cwd: sb.dir, env: sb.env, stdio: ['ignore', 'pipe', 'pipe']}), 30000)
  const captured = readFileSync(out, 'utf8')
  if (r.code !== 0) throw new Error(`zsh completion of "${line}" exited ${r.code}\n${captured}\n${r.stderr}`)
  return lines(captured).filter((l) => l !== '<ready>' && l !== '<done>')
}

describe('forest id completion in bash and zsh', () => {
  let sb: Sandbox
  let bashSetup = ''
  let zshSetup = ''
  beforeAll(async () => {
    sb = completionSandbox()
    writeFileSync(sb.registryPath, registryDoc(['forest-123']))
    const r = await sb.run(['autocomplete', 'bash'])
    expect(r.code).toBe(0)
    bashSetup = (await sb.run(['autocomplete', 'script', 'bash'])).stdout
    zshSetup = (await sb.run(['autocomplete', 'script', 'zsh'])).stdout
    expect(bashSetup).toContain('MORPHEUS_AC_BASH_SETUP_PATH=')
  })
  afterAll(async () => sb.cleanup())

  test('bash: the first argument of status and teardown completes with forest ids', async () => {
    expect(await bashComplete(sb, bashSetup, ['morpheus', 'status', ''])).toEqual(['forest-123'])
    expect(await bashComplete(sb, bashSetup, ['morpheus', 'status', 'fo'])).toEqual(['forest-123'])
    expect(await bashComplete(sb, bashSetup, ['morpheus', 'status', 'x'])).toEqual([])
    expect(await bashComplete(sb, bashSetup, ['morpheus', 'teardown', ''])).toEqual(['forest-123'])
    expect(await bashComplete(sb, bashSetup, ['morpheus', 'teardown', '--yes', ''])).toEqual(['forest-123'])
    // Only the first argument is a forest id.
    expect(await bashComplete(sb, bashSetup, ['morpheus', 'teardown', 'forest-123', ''])).not.toContain('forest-123')
    expect(await bashComplete(sb, bashSetup, ['morpheus', 'list', ''])).not.toContain('forest-123')
  })

  test('bash: command ids and flags still complete', async () => {
    expect(await bashComplete(sb, bashSetup, ['morpheus', 'sta'])).toEqual(['status'])
    expect(await bashComplete(sb, bashSetup, ['morpheus', 'config', 'g'])).toEqual(['get'])
    expect(await bashComplete(sb, bashSetup, ['morpheus', ''])).toEqual(expect.arrayContaining(['list', 'plant', 'status', 'teardown']))
    expect(await bashComplete(sb, bashSetup, ['morpheus', 'teardown', '--'])).toEqual(expect.arrayContaining(['--yes', '--json']))
  })

  test('bash: flags that take a value are skipped when finding the first argument (a command like grow)', async () => {
    // grow is not written yet: patch the generated script as the hook would for a command
    // whose first argument is `forest` and that has a --nodes/-n option.
    const generated = readFileSync(join(sb.env.MORPHEUS_CACHE_DIR!, 'autocomplete', 'functions', 'bash', 'morpheus.bash'), 'utf8')
    const cmds = forestCommands([
      {aliases: [], args: {forest: {name: 'forest'}}, flags: {nodes: {char: 'n', name: 'nodes', type: 'option'}, yes: {name: 'yes', type: 'boolean'}}, hidden: false, id: 'grow'},
    ] as any)
    const script = join(sb.dir, 'grow.bash')
    writeFileSync(script, patchBash(generated, 'morpheus', cmds)!)
    const complete = (words: string[]) => bashComplete(sb, '', words, script)
    expect(await complete(['morpheus', 'grow', ''])).toEqual(['forest-123'])
    expect(await complete(['morpheus', 'grow', '--nodes', '3', ''])).toEqual(['forest-123'])
    expect(await complete(['morpheus', 'grow', '--nodes', '=', '3', ''])).toEqual(['forest-123'])
    expect(await complete(['morpheus', 'grow', '-n', '3', '--yes', 'f'])).toEqual(['forest-123'])
    expect(await complete(['morpheus', 'grow', '--yes', 'forest-123', ''])).toEqual([])
    expect(await complete(['morpheus', 'grow', 'forest-123', '--nodes', '3', ''])).toEqual([])
  })

  const zshTest = has('zsh') || process.env.CI ? test : test.skip
  zshTest('zsh: forest ids for status and teardown, command ids and flags as before', async () => {
    expect(has('zsh')).toBe(true) // CI installs zsh (.ci/run)
    expect(await zshComplete(sb, zshSetup, 'morpheus status ')).toEqual(['forest-123'])
    expect(await zshComplete(sb, zshSetup, 'morpheus status fo')).toEqual(['forest-123'])
    expect(await zshComplete(sb, zshSetup, 'morpheus teardown -y ')).toEqual(['forest-123'])
    expect(await zshComplete(sb, zshSetup, 'morpheus teardown forest-123 ')).not.toContain('forest-123')
    expect(await zshComplete(sb, zshSetup, 'morpheus sta')).toEqual(['status'])
    expect(await zshComplete(sb, zshSetup, 'morpheus ')).toEqual(expect.arrayContaining(['list', 'plant', 'status', 'teardown']))
    expect(await zshComplete(sb, zshSetup, 'morpheus teardown --')).toEqual(expect.arrayContaining(['--yes', '--json']))
  })

  test('every way of (re)generating the scripts adds forest ids, exactly once', async () => {
    const dir = join(sb.env.MORPHEUS_CACHE_DIR!, 'autocomplete', 'functions')
    for (const args of [['autocomplete:create'], ['autocomplete', '--refresh-cache'], ['autocomplete', 'zsh']]) {
      const r = await sb.run(args)
      expect({args, code: r.code}).toEqual({args, code: 0})
      expect(r.stderr).not.toMatch(/warn|error/i)
      const bash = readFileSync(join(dir, 'bash', 'morpheus.bash'), 'utf8')
      const zsh = readFileSync(join(dir, 'zsh', '_morpheus'), 'utf8')
      expect(bash.match(/^_morpheus_autocomplete_forests\(\)/gm)).toHaveLength(1)
      expect(bash.trimEnd().split('\n').at(-2)).toBe('complete -F _morpheus_autocomplete_forests morpheus')
      expect(zsh.match(/^functions\[_morpheus_generated\]=/gm)).toHaveLength(1)
      expect(zsh.trimEnd().split('\n').at(-1)).toBe('_morpheus')
    }
  })
})

describe('the hidden autocomplete:forests command', () => {
  let sb: Sandbox
  beforeAll(() => {
    sb = completionSandbox()
  })
  afterAll(async () => sb.cleanup())

  const forests = async (): Promise<string[]> => {
    const r = await sb.run(['autocomplete:forests'])
    expect({code: r.code, stderr: r.stderr}).toEqual({code: 0, stderr: ''})
    return lines(r.stdout)
  }
  const cachePath = () => forestIdsCachePath(sb.env.MORPHEUS_CACHE_DIR!)

  test('prints nothing for an empty or missing registry', async () => {
    expect(await forests()).toEqual([])
  })

  test('prints the forest ids, one a line, and caches them (mode 0600)', async () => {
    forgetForestIds(sb.env.MORPHEUS_CACHE_DIR!)
    writeFileSync(sb.registryPath, registryDoc(['forest-123', 'forest-456']))
    expect(await forests()).toEqual(['forest-123', 'forest-456'])
    expect(statSync(cachePath()).mode & 0o777).toBe(0o600)
  })

  test('within the TTL the cached answer is used; after removal or expiry the registry is read again', async () => {
    writeFileSync(sb.registryPath, registryDoc(['forest-789']))
    expect(await forests()).toEqual(['forest-123', 'forest-456'])

    forgetForestIds(sb.env.MORPHEUS_CACHE_DIR!)
    expect(await forests()).toEqual(['forest-789'])

    writeFileSync(sb.registryPath, registryDoc(['forest-1', 'forest-2']))
    expect(await forests()).toEqual(['forest-789'])
    const cache = JSON.parse(readFileSync(cachePath(), 'utf8'))
    writeFileSync(cachePath(), JSON.stringify({...cache, written_at: cache.written_at - 61_000}))
    expect(await forests()).toEqual(['forest-1', 'forest-2'])
  })

  test('a change to the config file (another registry, perhaps) misses the cache', async () => {
    writeFileSync(sb.registryPath, registryDoc(['forest-3']))
    expect(await forests()).toEqual(['forest-1', 'forest-2'])
    sb.writeConfig('# edited\n')
    expect(await forests()).toEqual(['forest-3'])
  })

  test('never prints an error: broken registry, broken config, unwritable cache', async () => {
    forgetForestIds(sb.env.MORPHEUS_CACHE_DIR!)
    writeFileSync(sb.registryPath, '{not json')
    expect(await forests()).toEqual([])
    sb.writeRawConfig('registry: [unclosed\n')
    expect(await forests()).toEqual([])
    sb.writeRawConfig('registry:\n  type: no-such-backend\n')
    expect(await forests()).toEqual([])
    sb.writeConfig('')
    writeFileSync(sb.registryPath, registryDoc(['forest-5']))
    // The cache cannot be written (its directory is a file): the ids are still printed.
    const r = await sb.run(['autocomplete:forests'], {env: {MORPHEUS_CACHE_DIR: sb.registryPath}})
    expect(r).toEqual({code: 0, stderr: '', stdout: 'forest-5\n'})
  })

  test('ids a shell could expand are never printed', async () => {
    forgetForestIds(sb.env.MORPHEUS_CACHE_DIR!)
    writeFileSync(sb.registryPath, registryDoc(['forest-6', '$(touch pwned)', 'a b']))
    expect(await forests()).toEqual(['forest-6'])
  })

  test('is hidden from help', async () => {
    const help = await sb.run(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('autocomplete')
    const topic = await sb.run(['autocomplete', '--help'])
    for (const text of [help.stdout, topic.stdout]) {
      expect(text).not.toMatch(/autocomplete[: ]forests/)
      expect(text).not.toContain('used by shell completion')
    }
  })
})
