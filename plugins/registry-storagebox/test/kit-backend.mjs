// Builds the storagebox backend in another process, for the registry kit's multi-process test.
// The argument is the document's URL, the user and a 0600 file holding the password (never argv).
import {readFileSync} from 'node:fs'

import {createStorageBoxRegistry} from '../dist/storagebox-registry.js'
import {testContext} from '../../../dist/testing/context.js'

export async function createBackend(argument) {
  const {passwordFile, url, username} = JSON.parse(argument)
  return createStorageBoxRegistry(testContext({password: readFileSync(passwordFile, 'utf8'), url, username}))
}
