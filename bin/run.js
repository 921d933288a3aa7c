#!/usr/bin/env node
// Start-up time counts here (targets and figures: bench/run.js, `npm run bench`):
// - `morpheus --version` is answered without loading oclif (see versionFastPath below);
// - oclif's execute() comes from '@oclif/core/execute', not the package index, which would also load the parts
//   only commands use (flags, args, parser, semver for an engine warning); a command imports those when it runs;
// - Node's module compile cache is turned on where the Node has one (22.1+; Node 20 has none). It lives where Node
//   puts it by default (NODE_COMPILE_CACHE, else <tmpdir>/node-compile-cache); NODE_DISABLE_COMPILE_CACHE=1 turns it off.
import {existsSync, readFileSync} from 'node:fs'
import module from 'node:module'
import {arch, homedir, platform, release, tmpdir} from 'node:os'
import {join} from 'node:path'

if (!versionFastPath()) {
  try {
    module.enableCompileCache?.()
  } catch {
    // no cache: only slower
  }

  // The start-up bundle (scripts/startup-bundle.js): oclif's execute() in parts, the commands bundled beside it;
  // a file-system failure in one of oclif's own commands (plugins install: an unwritable data dir) is said as
  // Morpheus says it, with exit 10.
  const {run, flush, handle} = await import('../dist/bundle/cli.js')
  await run(process.argv.slice(2), import.meta.url)
    .then(async (result) => {
      flush()
      return result
    })
    .catch(async (error) => handle(await sayFsError(error)))

  // A plugin hook that outran MORPHEUS_HOOK_TIMEOUT_MS was abandoned, not stopped (see
  // src/plugins/discovery.ts): a timer or socket it holds would keep this process alive
  // after the command is done. Leave once stderr has drained, keeping the exit code.
  if (globalThis[Symbol.for('morpheus.abandonedHooks')]) process.stderr.write('', () => process.exit())
}

/** A file-system error oclif would print raw (exit 1) as a Morpheus error (exit 10, path, hint); anything else as it is. */
async function sayFsError(error) {
  if (error?.oclif?.exit !== undefined) return error
  const {toFsError} = await import('../dist/fs-errors.js')
  const fsError = toFsError(error)
  if (!fsError) return error
  process.stderr.write(`Error: ${fsError.message}\nHint: ${fsError.hint}\n`)
  return Object.assign(new Error(fsError.message), {oclif: {exit: fsError.exitCode}, skipOclifErrorHandling: true})
}

/**
 * `morpheus --version` (and `-v`, oclif.additionalVersionFlags) prints oclif's user agent, `<name>/<version> <platform>-<arch> node-<version>`, and nothing else;
 * loading oclif for that costs more than the whole budget (node + 150 ms). So print the same line here, exactly as oclif
 * builds it (Config.load: name and version from package.json, platform from os.platform() or "wsl", arch from os.arch()
 * with ia32 as x86), and leave it to oclif whenever it could do or print anything else:
 * - the arguments are anything but exactly `--version` or `-v` (oclif would print the version for `--version anything` too,
 *   but that is left to it);
 * - on Windows or in anything that may be WSL (oclif tells those apart with is-wsl);
 * - with DEBUG set (oclif's debug output);
 * - when the CLI declares an `init` or `finally` hook (oclif runs those around the version);
 * - when user plugins may be installed (a package.json in the data dir, as `morpheus plugins install/link` leave):
 *   they could declare those hooks too.
 * test/e2e/startup.test.ts runs both and compares them, and checks that no bundled plugin declares such a hook.
 * Returns whether it printed the version.
 */
function versionFastPath() {
  const flag = process.argv[2]
  if ((flag !== '--version' && flag !== '-v') || process.argv.length > 3 || process.env.DEBUG) return false
  if (process.platform === 'win32') return false
  if (process.platform === 'linux') {
    if (release().toLowerCase().includes('microsoft')) return false
    try {
      if (readFileSync('/proc/version', 'utf8').toLowerCase().includes('microsoft')) return false
    } catch {
      // no /proc/version: is-wsl goes on to the paths below
    }

    if (existsSync('/proc/sys/fs/binfmt_misc/WSLInterop') || existsSync('/run/WSL')) return false
  }

  let pjson
  try {
    pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  } catch {
    return false
  }

  const oclif = pjson.oclif ?? {}
  if (typeof pjson.name !== 'string' || oclif.hooks?.init || oclif.hooks?.finally) return false
  // -v is the version only where package.json says so (oclif.additionalVersionFlags).
  if (flag === '-v' && !oclif.additionalVersionFlags?.includes('-v')) return false

  // The data dir as oclif finds it: <BIN>_DATA_DIR (or a bin alias's), else $XDG_DATA_HOME or ~/.local/share, + dirname.
  const bins = [oclif.bin || pjson.name, ...(oclif.binAliases ?? [])]
  const scoped = bins.map((b) => process.env[`${b.replaceAll('@', '').replaceAll(/[/-]/g, '_')}_DATA_DIR`.toUpperCase()]).find(Boolean)
  const home = process.env.HOME || homedir() || tmpdir()
  const dataDir = scoped || join(process.env.XDG_DATA_HOME || join(home, '.local/share'), oclif.dirname || pjson.name)
  if (existsSync(join(dataDir, 'package.json'))) return false

  process.stdout.write(
    `${pjson.name}/${pjson.version || '0.0.0'} ${platform()}-${arch() === 'ia32' ? 'x86' : arch()} node-${process.version}\n`,
  )
  return true
}
