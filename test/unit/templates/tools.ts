/**
 * The real parsers each rendered context is checked with: PyYAML (what cloud-init reads user data
 * with), `cloud-init schema`, `nats-server -t`, bash, `systemd-analyze verify`.
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

const scratch = mkdtempSync(join(tmpdir(), 'morpheus-bootstrap-'))
let counter = 0
export function scratchFile(name: string, text: string): string {
  const file = join(scratch, `${counter++}-${name}`)
  writeFileSync(file, text)
  return file
}
export function removeScratch(): void {
  rmSync(scratch, {force: true, recursive: true})
}

function run(command: string, args: string[], input?: string): {code: number | null; stdout: string; stderr: string} {
  const r = spawnSync(command, args, {encoding: 'utf8', input, timeout: 30_000})
  if (r.error) throw r.error
  return {code: r.status, stderr: r.stderr, stdout: r.stdout}
}

/** Parse YAML the way cloud-init does (PyYAML safe_load, cloud-init's own interpreter). */
export function pyYaml(text: string): any {
  const r = run('/usr/bin/python3', ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))'], text)
  if (r.code !== 0) throw new Error(`PyYAML refused it: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

export function cloudInitSchema(text: string): {ok: boolean; output: string} {
  const r = run('cloud-init', ['schema', '--config-file', scratchFile('user-data.yaml', text)])
  return {ok: r.code === 0, output: r.stdout + r.stderr}
}

export function natsServerCheck(text: string): {ok: boolean; output: string} {
  const r = run('nats-server', ['-t', '-c', scratchFile('nats.conf', text)])
  return {ok: r.code === 0, output: r.stdout + r.stderr}
}

export function bashSyntax(script: string): {ok: boolean; output: string} {
  const r = run('bash', ['-n', scratchFile('script.sh', script)])
  return {ok: r.code === 0, output: r.stdout + r.stderr}
}

/** Run bash code and return what it printed. */
export function bash(code: string): {code: number | null; stdout: string; stderr: string} {
  return run('bash', ['-c', code])
}

/** systemd's own unit parser: verify prints a warning for every line it cannot parse. */
export function systemdVerify(unit: string, name = 'morpheus-test.service'): string {
  const r = run('systemd-analyze', ['verify', '--man=no', scratchFile(name, unit)])
  return r.stderr + r.stdout
}

/** Values that try to end their context and start something of their own. */
export const HOSTILE: string[] = [
  'plain',
  `it's "quoted"`,
  'a,b,c',
  'line one\nline two',
  'cr\r\nlf',
  '$(touch /tmp/morpheus-pwned)',
  '`touch /tmp/morpheus-pwned`',
  '${HOME} $HOME',
  '{{ forest.id }} {{{raw}}}',
  '} ] ) close',
  '# not a comment',
  'key: value',
  '- list item',
  "'; rm -rf / #",
  // Two or more single quotes: escaping that handles only the first lets the rest run.
  "a'b'c",
  "x'; touch /tmp/morpheus-pwned; '",
  "''''",
  '"\n  injected: true\n',
  '|\n  block',
  '\\ back\\slash \\n \\x41',
  '%h %% specifier',
  'tab\there',
  'ünïcødé \u2028 sep \u0085 nel \ufeff bom 🌲',
  '\u0001\u001b[31mcontrol\u007f',
  ' leading and trailing ',
  '',
]
