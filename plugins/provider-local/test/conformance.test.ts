import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {providerConformance, testContext, testTemplates} from 'morpheus/testing'

import {LocalProvider} from '../src/local-provider.js'

providerConformance({
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'morpheus-local-kit-'))
    const first = `127.${20 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}.1`
    const config = {
      data_dir: join(dir, 'local'),
      first_address: first,
      nats_server: 'nats-server',
      nimsforest_binary: '',
      start_timeout_seconds: 10,
      stop_timeout_seconds: 5,
    }
    const context = testContext(config, {resolvePath: (v) => v, templates: await testTemplates()})
    return {cleanup: () => rmSync(dir, {force: true, recursive: true}), ports: context.ports, provider: new LocalProvider(context)}
  },
  name: 'local',
  replaceNode: true,
})
