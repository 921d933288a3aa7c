import {spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {NodeRecord} from 'morpheus/plugin-api'

import {waitFor} from '../../../test/helpers/cli.js'
import {localProvider} from './provider.js'

// A plant killed (SIGKILL) between starting a node's process and writing its node.json leaves a running
// process that no file names. destroyNode (teardown) must still stop it: it finds the process by the
// marker the provider puts in every node process's environment.
test('destroyNode stops a node process that has no node.json yet', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'morpheus-local-unrecorded-'))
  const {context, forest, provider} = await localProvider(dir, '127.0.0.1', `forest-unrecorded${process.pid}`)
  const nodeDir = join(dir, 'local', forest.id, 'node-1')
  mkdirSync(nodeDir, {recursive: true})
  // The process as the provider starts it (its marker in the environment), before any node.json exists.
  const child = spawn('sleep', ['120'], {env: {PATH: process.env.PATH, MORPHEUS_NODE_DIR: nodeDir}, stdio: 'ignore'})
  const exited = new Promise((resolve) => child.once('exit', resolve))
  // A process of a sibling directory (another node) must be left alone.
  const sibling = spawn('sleep', ['120'], {env: {PATH: process.env.PATH, MORPHEUS_NODE_DIR: `${nodeDir}0`}, stdio: 'ignore'})
  try {
    await waitFor(() => context.helpers.processHasEnv(child.pid!, 'MORPHEUS_NODE_DIR', nodeDir), 5000)
    const node: NodeRecord = {
      created_at: forest.created_at,
      forest_id: forest.id,
      id: 'node-1',
      ip: '127.0.0.1',
      role: 'edge',
      status: 'creating',
    }
    await provider.destroyNode(node, forest)
    await exited
    expect(child.exitCode !== null || child.signalCode !== null).toBe(true)
    expect(context.helpers.processAlive(sibling.pid!)).toBe(true)
  } finally {
    child.kill('SIGKILL')
    sibling.kill('SIGKILL')
    rmSync(dir, {force: true, recursive: true})
  }
})
