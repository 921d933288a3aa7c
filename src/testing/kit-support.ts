import {existsSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

type Fn = () => unknown | Promise<unknown>

/** The test runner's globals (Jest, or node:test's describe/test when run with --test). */
export function runner(): {describe: (name: string, fn: () => void) => void; test: (name: string, fn: Fn, timeout?: number) => void} {
  const g = globalThis as Record<string, unknown>
  if (typeof g.describe !== 'function' || typeof g.test !== 'function') throw new Error('the conformance kits run inside a test runner that defines describe() and test() (Jest, or node --test with globals)')
  return g as never
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
