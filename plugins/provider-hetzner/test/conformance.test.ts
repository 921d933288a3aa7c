import {providerConformance, testContext} from 'morpheus/testing'

import {createRenderer} from '../../../src/templates/render.js'
import {HetznerSim} from '../../../test/fixtures/hetzner-sim/server.js'
import {HetznerProvider} from '../src/provider.js'
import {randomPorts, TOKEN} from './helpers.js'

// The core's provider conformance kit, run against the Hetzner provider and the simulator: servers boot real
// nats-servers on their loopback Primary IPv4, so the kit's probes of the monitoring endpoint are real.
providerConformance({
  async create() {
    const block = 50 + Math.floor(Math.random() * 20) * 10
    const sim = new HetznerSim({bootMs: 200, bootNats: true, ipv4Pool: [block, block + 9], tokens: {rw: [TOKEN]}})
    await sim.start()
    const renderer = await createRenderer()
    const ports = randomPorts()
    const config = {endpoint: sim.url, operator_cidrs: ['127.0.0.1/32'], poll_interval_seconds: 0.05, route_via: 'ipv4'}
    const context = testContext(config, {ports, secrets: {hetzner_api_token: TOKEN}, templates: renderer})
    return {
      cleanup: async () => {
        const violations = [...sim.violations]
        await sim.stop()
        if (violations.length > 0) throw new Error(`requests outside the API spec: ${violations.join('\n')}`)
      },
      ports,
      provider: new HetznerProvider(context),
    }
  },
  name: 'hetzner (simulator)',
  replaceNode: true,
})
