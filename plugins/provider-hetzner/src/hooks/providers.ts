import type {ProviderDescriptor} from 'morpheus/plugin-api'

import {configSchema} from '../schema.js'

/** Tiny on purpose: the implementation (and openapi-fetch) is imported only when a command uses this provider. */
export default async function providers(): Promise<ProviderDescriptor[]> {
  return [
    {
      aliases: ['hcloud'],
      apiVersion: 2,
      capabilities: {cloud: true, machineLocal: false, maxParallel: 10, natsModes: ['system', 'embedded']},
      configSchema,
      load: async () => (await import('../provider.js')).createHetznerProvider,
      name: 'hetzner',
      secrets: ['hetzner_api_token'],
      summary: 'Nodes are Hetzner Cloud servers (Primary IPs, one cloud firewall per forest)',
    },
  ]
}
