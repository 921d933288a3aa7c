import {existsSync} from 'node:fs'
import {dirname, join} from 'node:path'

/**
 * The directory of the package a file belongs to: the nearest one above it with a package.json. The same answer from
 * src/ (tests), dist/ (tsc's output) and dist/bundle/ (scripts/startup-bundle.js), where paths relative to a module would differ.
 */
export function packageRoot(file: string): string {
  let dir = dirname(file)
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error(`no package.json above ${file}`)
    dir = up
  }
  return dir
}
