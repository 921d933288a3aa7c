import {execFileSync, spawn} from 'node:child_process'
import {readFileSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'

import {forestIdsCachePath, forgetForestIds} from '../../src/autocomplete/forests-cache.js'
import {ROOT, Sandbox, collect} from '../helpers/cli.js'

/**
 * Shell completion through the built CLI: the scripts in dist/completion/, sourced with the line
 * `morpheus autocomplete bash|zsh` prints, run in real bash and zsh processes that do not have
 * `morpheus` on PATH; the hidden commands they call; -h, version and "did you mean".
 */

function registryDoc(ids: string[]): string {
  const forests: Record<string, unknown> = {}
  const nodes: Record<string, unknown[]> = {}
  ids.forEach((id, i) => {
    forests[id] = {
      id,
      provider: 'local',
      size: 'small',
      status: 'active',
      created_at: `2026-01-0${i + 1}T00:00:00Z`,
      last_expansion: null,
      node_count: 1,
    }
    nodes[id] = []
  })
  return JSON.stringify({version: 1, updated_at: '2026-01-01T00:00:00Z', forests, nodes})
}

/** A sandbox whose PATH has node and the system's tools, and no `morpheus`. */
function completionSandbox(): Sandbox {
  const sb = new Sandbox()
  sb.env.PATH = `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`
  return sb
}

/** teardown's visible flags as its manifest declares them, and --help, in order: what `teardown <id> --<TAB>` must offer. */
function teardownFlags(): string[] {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8'))
  const flags = Object.entries(manifest.commands.teardown.flags as Record<string, {hidden?: boolean}>)
    .filter(([, f]) => !f.hidden)
    .map(([name]) => `--${name}`)
  return [...flags, '--help'].sort()
}

const lines = (s: string) => s.split('\n').filter((l) => l !== '')

/**
 * Completion as bash runs it: eval the line `morpheus autocomplete bash` prints (what ~/.bashrc
 * holds), set COMP_LINE/COMP_POINT and COMP_WORDS/COMP_CWORD as bash would (it splits words at
 * blanks and at `=`, a COMP_WORDBREAKS character), call the function `complete -p morpheus` names,
 * print COMPREPLY. The cursor is at the end of `line`.
 */
async function bashComplete(sb: Sandbox, setup: string, line: string): Promise<string[]> {
  const program = `
eval "$1"
line="$2"
COMP_LINE="$line"
COMP_POINT=\${#line}
COMP_WORDS=()
for w in $line; do
  while [[ "$w" == *=* ]]; do
    [[ -n "\${w%%=*}" ]] && COMP_WORDS+=("\${w%%=*}")
    COMP_WORDS+=("=")
    w="\${w#*=}"
  done
  [[ -n "$w" ]] && COMP_WORDS+=("$w")
done
[[ "$line" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
spec=$(complete -p morpheus) || exit 3
fn=\${spec##*-F }
fn=\${fn%% *}
COMPREPLY=()
"$fn" morpheus "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "\${COMPREPLY[@]}"
`
  const child = spawn('bash', ['--norc', '--noprofile', '-c', program, 'bash', setup, line], {
    cwd: sb.dir,
    env: sb.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const r = await collect(child, 30000)
  if (r.code !== 0 || r.stderr !== '') throw new Error(`bash completion of "${line}" exited ${r.code}\n${r.stdout}\n${r.stderr}`)
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
  const r = await collect(
    spawn('zsh', ['-f', script, setup, out, line], {cwd: sb.dir, env: sb.env, stdio: ['ignore', 'pipe', 'pipe']}),
    30000,
  )
  const captured = readFileSync(out, 'utf8')
  if (r.code !== 0) throw new Error(`zsh completion of "${line}" exited ${r.code}\n${captured}\n${r.stderr}`)
  // zsh sorts what it shows; the order compadd was called in is not meant for the user.
  return lines(captured)
    .filter((l) => l !== '<ready>' && l !== '<done>')
    .sort()
}

describe('completion in bash and zsh, without morpheus on PATH', () => {
  let sb: Sandbox
  let bashSetup = ''
  let zshSetup = ''
  beforeAll(async () => {
    sb = completionSandbox()
    sb.writeConfig(`registry:\n  path: ${sb.registryPath}\nforest:\n  sizes:\n    xl: 9\n`)
    writeFileSync(sb.registryPath, registryDoc(['forest-123', 'forest-456']))
    bashSetup = (await sb.run(['autocomplete', 'bash'])).stdout
    zshSetup = (await sb.run(['autocomplete', 'zsh'])).stdout
  })
  afterAll(async () => sb.cleanup())

  test('the setup is one line that sources a script of the package', async () => {
    for (const [shell, setup] of [
      ['bash', bashSetup],
      ['zsh', zshSetup],
    ]) {
      const script = join(ROOT, 'dist', 'completion', `morpheus.${shell}`)
      expect(setup).toBe(`[ -f '${script}' ] && . '${script}'\n`)
      expect(statSync(script).isFile()).toBe(true)
    }
    const json = await sb.json(['autocomplete', 'bash'])
    expect(json).toEqual({
      ok: true,
      script: join(ROOT, 'dist', 'completion', 'morpheus.bash'),
      setup: bashSetup.trimEnd(),
      shell: 'bash',
      warnings: [],
    })
    // Nothing is written: the cache dir is not even created.
    expect(() => readdirSync(sb.env.MORPHEUS_CACHE_DIR!)).toThrow()
    const fish = await sb.run(['autocomplete'], {env: {SHELL: '/usr/bin/fish'}})
    expect(fish.code).toBe(2)
    expect(fish.stderr).toContain('$SHELL is /usr/bin/fish')
    expect((await sb.run(['autocomplete'], {env: {SHELL: '/bin/zsh'}})).stdout).toBe(zshSetup)
    // The shells below really have no morpheus on PATH.
    expect(() => execFileSync('bash', ['-c', 'command -v morpheus'], {env: sb.env, stdio: 'ignore'})).toThrow()
  })

  test('bash: commands and topics, each once', async () => {
    const top = await bashComplete(sb, bashSetup, 'morpheus ')
    expect(top).toEqual(
      expect.arrayContaining(['config', 'list', 'plant', 'plugins', 'registry', 'status', 'teardown', 'version', 'autocomplete']),
    )
    expect(top.length).toBe(new Set(top).size)
    expect(top).not.toContain('help-me')
    expect(top.filter((w) => w.includes(':') || w.includes(' '))).toEqual([])
    expect(await bashComplete(sb, bashSetup, 'morpheus sta')).toEqual(['status'])
    expect(await bashComplete(sb, bashSetup, 'morpheus config ')).toEqual(['get', 'list', 'path', 'set', 'unset'])
    expect(await bashComplete(sb, bashSetup, 'morpheus config g')).toEqual(['get'])
    const plugins = await bashComplete(sb, bashSetup, 'morpheus plugins ')
    expect(plugins).toEqual(expect.arrayContaining(['install', 'uninstall', 'link']))
    expect(plugins.length).toBe(new Set(plugins).size)
    expect(await bashComplete(sb, bashSetup, 'morpheus registry i')).toEqual(['info', 'init'])
  })

  test("bash: forest ids, providers and sizes (the config's and the defaults)", async () => {
    expect(await bashComplete(sb, bashSetup, 'morpheus status ')).toEqual(['forest-123', 'forest-456'])
    expect(await bashComplete(sb, bashSetup, 'morpheus status forest-4')).toEqual(['forest-456'])
    expect(await bashComplete(sb, bashSetup, 'morpheus teardown --yes ')).toEqual(['forest-123', 'forest-456'])
    expect(await bashComplete(sb, bashSetup, 'morpheus grow --output json f')).toEqual(['forest-123', 'forest-456'])
    expect(await bashComplete(sb, bashSetup, 'morpheus plant ')).toEqual(['hetzner', 'hcloud', 'local', 'cloud'])
    expect(await bashComplete(sb, bashSetup, 'morpheus plant lo')).toEqual(['local'])
    expect(await bashComplete(sb, bashSetup, 'morpheus plant local ')).toEqual(['small', 'medium', 'large', 'xl'])
    expect(await bashComplete(sb, bashSetup, 'morpheus plant --nodes=3 local m')).toEqual(['medium'])
  })

  test('bash: flags, after the forest id too, and flag values (also after =)', async () => {
    const flags = teardownFlags()
    expect(flags).toEqual(expect.arrayContaining(['--force', '--help', '--json', '--yes']))
    expect(await bashComplete(sb, bashSetup, 'morpheus teardown forest-123 --')).toEqual(flags)
    expect(await bashComplete(sb, bashSetup, 'morpheus teardown forest-123 ')).toEqual(flags)
    expect(await bashComplete(sb, bashSetup, 'morpheus teardown --yes forest-123 --')).toEqual(flags.filter((f) => f !== '--yes'))
    expect(await bashComplete(sb, bashSetup, 'morpheus plant local small --d')).toEqual(['--dry-run'])
    expect(await bashComplete(sb, bashSetup, 'morpheus grow --output ')).toEqual(['text', 'json'])
    expect(await bashComplete(sb, bashSetup, 'morpheus grow --output=')).toEqual(['text', 'json'])
    expect(await bashComplete(sb, bashSetup, 'morpheus grow --output=j')).toEqual(['json'])
    expect(await bashComplete(sb, bashSetup, 'morpheus autocomplete ')).toEqual(['bash', 'zsh'])
  })

  test('zsh: the same, through the completion system on a terminal', async () => {
    expect(await zshComplete(sb, zshSetup, 'morpheus sta')).toEqual(['status'])
    const top = await zshComplete(sb, zshSetup, 'morpheus ')
    expect(top).toEqual(expect.arrayContaining(['config', 'list', 'plant', 'plugins', 'status', 'teardown', 'version']))
    expect(top.length).toBe(new Set(top).size)
    expect(await zshComplete(sb, zshSetup, 'morpheus config ')).toEqual(['get', 'list', 'path', 'set', 'unset'])
    expect(await zshComplete(sb, zshSetup, 'morpheus status ')).toEqual(['forest-123', 'forest-456'])
    expect(await zshComplete(sb, zshSetup, 'morpheus teardown -y fo')).toEqual(['forest-123', 'forest-456'])
    expect(await zshComplete(sb, zshSetup, 'morpheus teardown forest-123 --')).toEqual(teardownFlags())
    expect(await zshComplete(sb, zshSetup, 'morpheus plant ')).toEqual(['cloud', 'hcloud', 'hetzner', 'local'])
    expect(await zshComplete(sb, zshSetup, 'morpheus plant local ')).toEqual(['large', 'medium', 'small', 'xl'])
    expect(await zshComplete(sb, zshSetup, 'morpheus grow --output=')).toEqual(['--output=json', '--output=text'])
  })
})

describe('help, version and unknown commands', () => {
  let sb: Sandbox
  beforeAll(() => {
    sb = new Sandbox()
  })
  afterAll(async () => sb.cleanup())

  test('-h is --help, for the CLI, a topic and a command', async () => {
    for (const args of [[], ['config'], ['plant'], ['teardown']]) {
      const short = await sb.run([...args, '-h'])
      const long = await sb.run([...args, '--help'])
      expect({args, code: short.code, stderr: short.stderr}).toEqual({args, code: 0, stderr: ''})
      expect(short.stdout).toBe(long.stdout)
      expect(short.stdout).toContain('USAGE')
    }
  })

  test('version, -v and --version print the version', async () => {
    const expected = (await sb.run(['--version'])).stdout
    expect(expected).toMatch(/^morpheus\/\d+\.\d+\.\d+ \S+ node-v\d+/)
    for (const args of [['version'], ['-v']]) expect(await sb.run(args)).toEqual({code: 0, stderr: '', stdout: expected})
    const json = await sb.json(['version'])
    expect(json.user_agent).toBe(expected.trim())
    expect(json.version).toMatch(/^\d+\.\d+\.\d+/)
  })

  test('an unknown command gets a "did you mean", exit 2', async () => {
    const r = await sb.run(['stat', 'forest-1'])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('"stat" is not a morpheus command')
    expect(r.stderr).toContain('Did you mean `morpheus status`?')
    const sub = await sb.run(['config', 'gett', 'forest.parallel'])
    expect(sub.code).toBe(2)
    expect(sub.stderr).toContain('Did you mean `morpheus config get`?')
    const far = await sb.run(['xyzzy'])
    expect(far.code).toBe(2)
    expect(far.stderr).toContain('"xyzzy" is not a morpheus command')
    expect(far.stderr).not.toContain('Did you mean')
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
    const r = await sb.run(['autocomplete:complete', '--', 'status', ''])
    expect(r).toEqual({code: 0, stderr: '', stdout: 'forest-6\n'})
  })

  test('autocomplete:complete never prints an error either', async () => {
    sb.writeRawConfig('registry: [unclosed\n')
    for (const words of [
      ['status', ''],
      ['plant', 'local', ''],
      ['plant', ''],
    ]) {
      const r = await sb.run(['autocomplete:complete', '--', ...words])
      expect({code: r.code, stderr: r.stderr}).toEqual({code: 0, stderr: ''})
    }
    sb.writeConfig('')
  })

  test('is hidden from help', async () => {
    const help = await sb.run(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('autocomplete')
    const topic = await sb.run(['autocomplete', '--help'])
    for (const text of [help.stdout, topic.stdout]) {
      expect(text).not.toMatch(/autocomplete[: ](forests|complete)/)
      expect(text).not.toContain('used by shell completion')
    }
  })
})
