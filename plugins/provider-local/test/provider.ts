import {join} from 'node:path'

import type {ForestRecord} from 'morpheus/plugin-api'
import {testContext, testTemplates} from 'morpheus/testing'

import {LocalProvider} from '../src/local-provider.js'

/** A LocalProvider on its own data dir under `dir`, with the test timeouts, and a one-node forest record `id` (planting). */
export async function localProvider(
  dir: string,
  firstAddress: string,
  forestId: string,
): Promise<{context: ReturnType<typeof testContext>; provider: LocalProvider; forest: ForestRecord}> {
  const context = testContext(
    {
      data_dir: join(dir, 'local'),
      first_address: firstAddress,
      nats_server: 'nats-server',
      nimsforest_binary: '',
      start_timeout_seconds: 10,
      stop_timeout_seconds: 5,
    },
    {resolvePath: (v) => v, templates: await testTemplates()},
  )
  const forest: ForestRecord = {
    created_at: new Date().toISOString(),
    id: forestId,
    last_expansion: null,
    node_count: 1,
    operation: null,
    provider: 'local',
    size: 'small',
    status: 'planting',
  }
  return {context, forest, provider: new LocalProvider(context)}
}
