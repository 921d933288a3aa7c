import type {PluginContext} from 'morpheus/plugin-api'

import {createRenderer} from '../../../src/templates/render.js'
import {pluginContext} from '../../../test/helpers/unit.js'
import {HetznerSim, type SimOptions} from '../../../test/fixtures/hetzner-sim/server.js'
import {HetznerProvider} from '../src/provider.js'

export const TOKEN = 'sim-token-3f9a1c7e5b2d4f60a8c1e9b7d3f5a2c4'

export interface Harness {
  sim: HetznerSim
  provider: HetznerProvider
  context: PluginContext
  logs: string[]
}

/** A simulator on loopback and a provider pointed at it (config endpoint), with a log that tests can read. */
export async function harness(
  options: {sim?: SimOptions; config?: Record<string, unknown>; secrets?: Record<string, string>; ports?: PluginContext['ports']} = {},
): Promise<Harness> {
  const block = 100 + Math.floor(Math.random() * 15) * 10
  const sim = new HetznerSim({
    bootMs: 100,
    bootNats: true,
    ipv4Pool: [block, block + 9],
    tokens: {ro: ['read-only-token'], rw: [TOKEN]},
    ...options.sim,
  })
  await sim.start()
  const renderer = await createRenderer()
  const logs: string[] = []
  const log = (m: string) => logs.push(m)
  const context = pluginContext(
    {endpoint: sim.url, operator_cidrs: ['127.0.0.1/32'], poll_interval_seconds: 0.05, route_via: 'ipv4', ...options.config},
    '/',
    {
      log: {debug: log, info: log, warn: log},
      ports: options.ports ?? randomPorts(),
      secrets: options.secrets ?? {hetzner_api_token: TOKEN},
      // The core's own renderer: the user data is the real cloud-init (templates/cloud-init), whose nats.conf the simulator boots.
      templates: renderer,
    },
  )
  return {context, logs, provider: new HetznerProvider(context), sim}
}

/** Random free-ish ports for nats-servers a test boots (so parallel tests never collide). */
export function randomPorts(): PluginContext['ports'] {
  const base = 20000 + Math.floor(Math.random() * 400) * 100
  return {client: base + 22, cluster: base + 62, monitor: base + 82}
}
