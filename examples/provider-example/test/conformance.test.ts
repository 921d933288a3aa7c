import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {providerConformance, testContext, testTemplates} from 'morpheus/testing'

// @ts-expect-error: the example is plain JavaScript with JSDoc types
import {createExampleProvider} from '../src/provider.js'

// A third-party plugin runs the provider kit from its own test/ the same way.
providerConformance({
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'morpheus-example-kit-'))
    const first = `127.${20 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}.1`
    const context = testContext(
      {first_address: first, nats_server: 'nats-server', start_timeout_seconds: 10},
      {dataDir: dir, templates: await testTemplates()},
    )
    return {cleanup: () => rmSync(dir, {force: true, recursive: true}), ports: context.ports, provider: createExampleProvider(context)}
  },
  name: 'example (examples/provider-example)',
})
