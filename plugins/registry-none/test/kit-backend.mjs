// Builds the file backend in another process, for the registry kit's multi-process test.
import {createFileRegistry} from '../dist/file-registry.js'
import {testContext} from '../../../dist/testing/context.js'

export async function createBackend(path) {
  return createFileRegistry(testContext({lock_timeout_seconds: 30, path}))
}
