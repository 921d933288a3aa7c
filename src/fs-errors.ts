/**
 * File-system failures (permissions, a full or read-only disk, a file where a directory belongs)
 * as MorpheusErrors: exit 10 (FILESYSTEM), naming the path, what was being done and what to do.
 * Every place that writes files uses this: the config file, the local registry, the local
 * provider's data dir, the cache and data dirs; errors nobody mapped are caught by the base
 * command (and, for oclif's own commands, by bin/run.js) through `toFsError`.
 */
import {statSync} from 'node:fs'
import {homedir, userInfo} from 'node:os'
import {dirname, join, resolve} from 'node:path'

import {MorpheusError} from './errors.js'

/** The error codes that mean "this place cannot be used", in words. */
const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EDQUOT: 'the disk quota is exceeded',
  EEXIST: 'something is already there',
  EISDIR: 'it is a directory',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
  ENFILE: 'too many open files on the system',
  ENOENT: 'no such file or directory',
  ENOSPC: 'no space left on the device',
  ENOTDIR: 'a part of the path is not a directory',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
}

/** Node's syscall names, as operations in words. */
const OPERATIONS: Record<string, string> = {
  access: 'use',
  chmod: 'change the mode of',
  copyfile: 'copy',
  fsync: 'flush',
  link: 'link',
  lstat: 'look at',
  mkdir: 'create the directory',
  mkdtemp: 'create a directory in',
  open: 'open',
  read: 'read',
  readlink: 'read the link',
  rename: 'replace',
  rm: 'remove',
  rmdir: 'remove the directory',
  scandir: 'list',
  stat: 'look at',
  symlink: 'link',
  unlink: 'remove',
  utime: 'touch',
  write: 'write',
}

export interface FsContext {
  /** What was being done, as a verb phrase: "write", "create the lock file". Default: from the syscall. */
  operation?: string
  /** The path the user knows (e.g. the config file, not its temporary sibling). Default: the error's path. */
  path?: string
  /** What the path is: "the config file", "the registry". */
  what?: string
  /** Another way out, e.g. "point MORPHEUS_CONFIG at a file in a writable directory". */
  instead?: string
  /** Put before the message, e.g. "registry /x/registry.json". */
  prefix?: string
  /** Says what was being done, in place of "cannot <operation> <what> <path>" (a plugin's own message). */
  doing?: string
  /** Said after the hint (a plugin's own hint, e.g. where else the file could live). */
  hint?: string
}

type SystemError = NodeJS.ErrnoException & {dest?: string}

/** The Node file-system error in `error` or its causes (a plugin may wrap one), if any. */
export function systemErrorOf(error: unknown): SystemError | undefined {
  let current = error as {code?: unknown; syscall?: unknown; cause?: unknown} | undefined
  for (let depth = 0; current && depth < 5; depth++, current = current.cause as typeof current) {
    if (typeof current.code === 'string' && Object.hasOwn(REASONS, current.code) && typeof current.syscall === 'string')
      return current as SystemError
  }
  return undefined
}

/** The nearest existing ancestor of `path` that is not a directory (what ENOTDIR complains about). */
function blockingFile(path: string): string | undefined {
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      if (!statSync(p).isDirectory()) return p
    } catch {
      // not there (or not reachable): look further up
    }
    if (dirname(p) === p) return undefined
  }
}

function user(): string {
  try {
    return userInfo().username
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`
  }
}

function hintFor(code: string, path: string, failedAt: string, instead?: string): string {
  const or = instead ? `, or ${instead}` : ''
  const dir = dirname(failedAt)
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `Make ${dir} writable for ${user()} (see \`ls -ld ${dir}\`)${or}.`
    case 'ENOSPC':
    case 'EDQUOT':
      return `Free some space on the file system that holds ${dir} (see \`df -h ${dir}\`)${or}.`
    case 'EROFS':
      return `${dir} is on a read-only file system${instead ? `: ${instead}` : ''}.`
    case 'ENOTDIR':
    case 'EEXIST': {
      const file = blockingFile(failedAt)
      return file
        ? `${file} is a file where a directory is expected: move it away${or}.`
        : `Something that is not a directory stands in the way of ${path}${or}.`
    }
    case 'EISDIR':
      return `${failedAt} is a directory where a file is expected: move it away${or}.`
    case 'ENOENT':
      return `Create ${dir} (a directory)${or}.`
    default:
      return instead ? `${instead[0].toUpperCase()}${instead.slice(1)}.` : `Check ${path} and try again.`
  }
}

/** Where the remedy lies for a path under one of Morpheus's own directories (oclif's cache and data dirs). */
export function defaultInstead(path: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const home = env.HOME || homedir()
  const cache = env.MORPHEUS_CACHE_DIR || join(env.XDG_CACHE_HOME || join(home, '.cache'), 'morpheus')
  const data = env.MORPHEUS_DATA_DIR || join(env.XDG_DATA_HOME || join(home, '.local', 'share'), 'morpheus')
  const under = (dir: string) => path === dir || path.startsWith(`${dir}/`) || dir.startsWith(`${path}/`)
  if (under(resolve(cache))) return 'set MORPHEUS_CACHE_DIR to a writable directory'
  if (under(resolve(data))) return 'set MORPHEUS_DATA_DIR to a writable directory'
  return undefined
}

/**
 * The FILESYSTEM error for a failed file operation, or undefined when `error` is not a
 * file-system error (then the caller keeps its own handling).
 */
export function toFsError(error: unknown, context: FsContext = {}): MorpheusError | undefined {
  if (error instanceof MorpheusError) return error.kind === 'FILESYSTEM' ? error : undefined
  const sys = systemErrorOf(error)
  if (!sys) return undefined
  const code = sys.code!
  const failedAt = sys.path ?? context.path ?? ''
  const path = context.path ?? failedAt
  const operation = context.operation ?? OPERATIONS[sys.syscall ?? ''] ?? sys.syscall ?? 'use'
  const instead = context.instead ?? defaultInstead(resolve(failedAt || path))
  const where =
    failedAt && failedAt !== path && failedAt !== dirname(path) && dirname(failedAt) !== dirname(path) ? ` (at ${failedAt})` : ''
  const reason = code === 'EEXIST' && sys.syscall === 'mkdir' ? 'a file is there, not a directory' : REASONS[code]
  const doing = context.doing ?? `cannot ${operation} ${context.what ? `${context.what} ` : ''}${path}`
  const message = `${context.prefix ? `${context.prefix}: ` : ''}${doing}: ${reason} (${code})${context.doing ? '' : where}`
  return new MorpheusError('FILESYSTEM', message, {
    cause: error,
    details: {code, operation, path, ...(failedAt && failedAt !== path ? {failed_at: failedAt} : {})},
    hint: [hintFor(code, path, failedAt || path, instead), context.hint].filter(Boolean).join(' '),
  })
}

/** Run a synchronous file operation; a file-system failure becomes a FILESYSTEM error (others pass through). */
export function withFs<T>(context: FsContext, fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    throw toFsError(error, context) ?? error
  }
}
