import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'

type Fn = () => unknown | Promise<unknown>

/** The two functions of a test runner the kits define their tests with (Jest's, Vitest's, Mocha's or node:test's). */
export interface TestRunner {
  describe(name: string, fn: () => void): unknown
  test(name: string, fn: Fn, timeoutMs?: number): unknown
}

/**
 * The runner the kits use: the one given in the kit's options; else the global `describe` and
 * `test` (Jest, Vitest with globals, Mocha); else node:test's, so a test file run with
 * `node --test` needs nothing more.
 */
export function runner(given?: TestRunner): TestRunner {
  if (given) return given
  const g = globalThis as Record<string, unknown>
  if (typeof g.describe === 'function' && typeof g.test === 'function') return g as unknown as TestRunner
  const nodeTest = createRequire(import.meta.url)('node:test') as {
    describe: (name: string, fn: () => void) => unknown
    test: (name: string, options: {timeout?: number}, fn: Fn) => unknown
  }
  // node:test takes the time limit as an option before the function, not as a third argument.
  return {describe: (name, fn) => nodeTest.describe(name, fn), test: (name, fn, timeoutMs) => nodeTest.test(name, {timeout: timeoutMs}, fn)}
}

/** A compiled file of the core (the kits' child processes run JavaScript, also when the kit itself runs from TypeScript sources). */
export function compiled(name: string, from: string): string {
  const here = fileURLToPath(new URL(name, from))
  if (existsSync(here)) return here
  const dist = here.replace(/\/src\/testing\/([^/]+)\.(ts|js)$/, '/dist/testing/$1.js')
  if (existsSync(dist)) return dist
  throw new Error(`${dist} is missing: build the core first (npm run build)`)
}

/** Deep equality that holds across realms (Jest runs tests in a VM context of its own). */
export function same(actual: unknown, expected: unknown, message?: string): void {
  const a = JSON.stringify(actual)
  const e = JSON.stringify(expected)
  if (a !== e) throw new Error(`${message ?? 'values differ'}: expected ${e}, got ${a}`)
}
