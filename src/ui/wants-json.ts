/**
 * `--json` among the arguments (before a `--`), as oclif decides it. A module of its own, importing
 * nothing, so the hooks that run before a command (or for an unknown one) can ask without loading
 * the envelope's code.
 */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--')
  const i = argv.indexOf('--json')
  return i !== -1 && (end === -1 || i < end)
}
