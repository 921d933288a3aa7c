import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {assertMatchesSchema} from './json-schema.js'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const BIN = join(ROOT, 'bin', 'run.js')

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** An isolated home for one test: its own config file, registry, data dirs. */
export class Sandbox {
  readonly dir: string
  readonly env: NodeJS.ProcessEnv

  constructor(config?: string, extraEnv: NodeJS.ProcessEnv = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'morpheus-test-'))
    mkdirSync(join(this.dir, 'home'))
    this.env = {
      CI: 'true',
      HOME: join(this.dir, 'home'),
      MORPHEUS_CACHE_DIR: join(this.dir, 'cache'),
      MORPHEUS_CONFIG: join(this.dir, 'config.yaml'),
      MORPHEUS_DATA_DIR: join(this.dir, 'data'),
      NODE_OPTIONS: '',
      PATH: process.env.PATH,
      ...extraEnv,
    }
    // Each sandbox gets its own loopback range so tests running side by side never collide.
    this.firstAddress = `127.${10 + Math.floor(Math.random() * 240)}.${Math.floor(Math.random() * 250)}.1`
    this.writeConfig(config ?? '')
  }

  readonly firstAddress: string

  /** What run() and spawn() start: by default `node bin/run.js` of this tree; a path (e.g. an installed `morpheus`) is run as a program. */
  command?: string

  /** Write the config file; the local provider's first_address is added unless the text sets providers. */
  writeConfig(text: string): void {
    const extra = /^providers:/m.test(text) ? '' : `\nproviders:\n  local:\n    first_address: ${this.firstAddress}\n`
    writeFileSync(join(this.dir, 'config.yaml'), text + extra)
  }

  writeRawConfig(text: string): void {
    writeFileSync(join(this.dir, 'config.yaml'), text)
  }

  get registryPath(): string {
    return join(this.dir, 'registry.json')
  }

  registry(): any {
    return JSON.parse(readFileSync(this.registryPath, 'utf8'))
  }

  run(args: string[], options: {env?: NodeJS.ProcessEnv; node?: string; timeoutMs?: number; input?: string} = {}): Promise<CliResult> {
    const child = this.spawn(args, options)
    return collect(child, options.timeoutMs ?? 60000)
  }

  spawn(args: string[], options: {env?: NodeJS.ProcessEnv; node?: string} = {}): ChildProcess {
    const [file, argv] = this.command ? [this.command, args] : [options.node ?? process.execPath, [BIN, ...args]]
    return spawn(file, argv, {cwd: this.dir, env: {...this.env, ...options.env}, stdio: ['ignore', 'pipe', 'pipe']})
  }

  /** `morpheus <args> --json`, which must succeed: its output, checked against the command's JSON Schema (schemas/). */
  async json(args: string[], options: {env?: NodeJS.ProcessEnv; timeoutMs?: number} = {}): Promise<any> {
    const r = await this.runJson(args, options)
    if (r.code !== 0) throw new Error(`morpheus ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`)
    return r.out
  }

  /**
   * `morpheus <args> --json`, success or not: stdout must be one JSON document matching the
   * command's schema, with `ok` true exactly when the exit code is 0 and error.exitCode the exit code.
   */
  async runJson(args: string[], options: {env?: NodeJS.ProcessEnv; timeoutMs?: number} = {}): Promise<CliResult & {out: any}> {
    // Where the caller placed --json itself (before a `--`), it is not added again at the end.
    const r = await this.run(args.includes('--json') ? args : [...args, '--json'], options)
    let out: any
    try {
      out = JSON.parse(r.stdout)
    } catch {
      throw new Error(
        `morpheus ${args.join(' ')} --json (exit ${r.code}) did not print one JSON document\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
      )
    }
    assertMatchesSchema(args, out)
    if (out.ok !== (r.code === 0) || (!out.ok && out.error.exitCode !== r.code)) {
      throw new Error(
        `morpheus ${args.join(' ')} --json: exit ${r.code} but ok ${out.ok}${out.ok ? '' : `, error.exitCode ${out.error.exitCode}`}\n${r.stdout}\n${r.stderr}`,
      )
    }
    return {...r, out}
  }

  /**
   * `morpheus status <forest> --json` until it says healthy, for at most `timeoutMs`: right after an
   * operation under writes a replica may still be catching up (the full /healthz then answers 503 for
   * a moment). Returns the health and each node's problem as last seen, so a forest that stays
   * degraded fails with the reason: `expect(await sb.settled(id)).toEqual({health: 'healthy', problems: []})`.
   */
  async settled(forestId: string, timeoutMs = 30000): Promise<{health: string; problems: string[]}> {
    const start = Date.now()
    const deadline = start + timeoutMs
    let first: string[] | undefined
    for (;;) {
      const status = await this.json(['status', forestId])
      const nodes = status.nodes as any[]
      // Unhealthy nodes by their error; where all are healthy but the cluster is not whole, every
      // node's routes and JetStream leader.
      let problems = nodes
        .filter((n) => !n.health?.healthy)
        .map((n) => `${n.id}: ${n.health?.error ?? (n.health ? 'not healthy' : 'not probed')}`)
      if (problems.length === 0 && status.health !== 'healthy')
        problems = nodes.map((n) => `${n.id}: ${n.health?.routes} routes, leader ${n.health?.jetstream_leader ?? 'none'}`)
      if (status.health === 'healthy' && first)
        process.stderr.write(`status of ${forestId} became healthy after ${Date.now() - start} ms; first seen: ${first.join('; ')}\n`)
      if (status.health === 'healthy' || Date.now() > deadline) return {health: status.health, problems}
      first ??= [status.health, ...problems]
      await new Promise((r) => setTimeout(r, 500))
    }
  }

  /** Kill (by pid, never by name) every node process this sandbox started, then remove it. */
  async cleanup(): Promise<void> {
    for (const pid of nodeProcesses(this.dir)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone
      }
    }
    rmSync(this.dir, {force: true, recursive: true})
  }
}

export function collect(child: ChildProcess, timeoutMs = 60000): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d) => (stdout += d))
  child.stderr?.on('data', (d) => (stderr += d))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`timed out after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stderr, stdout})
    })
  })
}

/** Is the process running? An exited process not yet reaped by its parent (a zombie) is not. */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/** Pids of live processes whose environment marks them as a node under `dir`. */
export function nodeProcesses(dir: string): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'latin1')
      if (env.split('\0').some((v) => v.startsWith(`MORPHEUS_NODE_DIR=${dir}`))) {
        if (running(Number(entry))) out.push(Number(entry))
      }
    } catch {
      // exited or not ours
    }
  }
  return out
}

export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 10000, stepMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await predicate()) return
    await new Promise((r) => setTimeout(r, stepMs))
  }
  throw new Error(`condition not met within ${timeoutMs} ms`)
}

/**
 * npm must not reach the network in these tests (a tarball without dependencies needs
 * nothing from a registry): offline mode, and a registry on a closed loopback port in case
 * anything still tries. `morpheus plugins install` passes MORPHEUS_NPM_REGISTRY to npm as
 * --registry. The Sandbox's own HOME means no user .npmrc and a private npm cache.
 */
export const NPM_ENV = {
  MORPHEUS_NPM_REGISTRY: 'http://127.0.0.1:9/',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_offline: 'true',
  npm_config_registry: 'http://127.0.0.1:9/',
  npm_config_update_notifier: 'false',
}

/**
 * Run the CLI on a terminal: `script` (util-linux) gives it a real pseudo-terminal, so the prompts run
 * as a person sees them. Answers are typed once the question is on the screen.
 */
export function onTerminal(
  sb: Sandbox,
  args: string[],
  answers: Array<{when: string; type: string}>,
  timeoutMs = 90_000,
): Promise<{code: number | null; out: string}> {
  const command = `stty cols 120 rows 40; exec ${[process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ')}`
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    cwd: sb.dir,
    env: {...sb.env, TERM: 'dumb'},
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  const pending = [...answers]
  const onData = (d: Buffer) => {
    out += d.toString()
    // eslint-disable-next-line no-control-regex
    const plain = out.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    while (pending.length > 0 && plain.includes(pending[0].when)) child.stdin.write(pending.shift()!.type)
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`timed out; output so far:\n${out}`))
    }, timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      // eslint-disable-next-line no-control-regex
      resolve({code, out: out.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replaceAll('\r', '')})
    })
  })
}
