/**
 * The `morpheus:providers` hook: Morpheus calls it (with a timeout) whenever a command
 * needs the list of providers. Keep it tiny and free of side effects: no network, no
 * files, no heavy imports. The implementation is imported by `load()` only when a
 * command actually uses this provider.
 */

/** @type {import('morpheus/plugin-api').ProviderDescriptor} */
const example = {
  apiVersion: 2,
  name: 'example',
  aliases: ['example-nats'],
  summary: 'Example plugin: nats-server processes on loopback addresses (teaching aid; use "local" for real work)',
  capabilities: {
    cloud: false,
    machineLocal: true,
    maxParallel: 4,
    natsModes: ['system'],
  },
  // Validated by the core against `providers.example` in the config file before load()'s
  // factory sees it; defaults are filled in, unknown keys are refused with "did you mean".
  configSchema: {
    first_address: {type: 'string', default: '127.0.100.1', description: 'Nodes get loopback addresses from here upward, one per node'},
    nats_server: {type: 'string', default: 'nats-server', description: 'The nats-server binary (a name on PATH or a path)'},
    cluster_passphrase: {
      type: 'string',
      default: '',
      secret: true,
      description:
        'When set, routes use this password (user "morpheus") instead of the forest\'s generated route credentials; masked by `morpheus config get/list`',
    },
    start_timeout_seconds: {
      type: 'integer',
      default: 10,
      minimum: 1,
      description: 'How long a node may take to answer on its monitoring port',
    },
  },
  load: async () => (await import('../provider.js')).createExampleProvider,
}

/** @returns {Promise<import('morpheus/plugin-api').ProvidersHookResult>} */
export default async function providers() {
  return [example]
}
