import type {ProviderDescriptor} from 'morpheus/plugin-api'

/** Tiny on purpose: the implementation is imported only when a command uses this provider. */
export default async function providers(): Promise<ProviderDescriptor[]> {
  return [
    {
      apiVersion: 2,
      capabilities: {cloud: false, machineLocal: true, maxParallel: 16, natsModes: ['system', 'embedded']},
      configSchema: {
        data_dir: {
          default: 'local',
          description: "Where each node's config, JetStream data and logs live (relative to the config file's directory)",
          type: 'string',
        },
        first_address: {
          default: '127.0.0.2',
          description: 'Loopback addresses are handed out from here upward, one per node',
          type: 'string',
        },
        nats_server: {default: 'nats-server', description: 'The nats-server binary (a name on PATH or a path)', type: 'string'},
        nats_server_dir: {
          default: '',
          description:
            'A directory of further nats-server builds, found by their --version when a forest runs (or is upgraded to) another version ("" for none)',
          type: 'string',
        },
        nimsforest_binary: {
          default: '',
          description: 'When set, nodes run this NimsForest binary (embedded NATS) instead of nats-server',
          type: 'string',
        },
        start_timeout_seconds: {
          default: 10,
          description: 'How long a node may take to answer on its monitoring port',
          minimum: 1,
          type: 'integer',
        },
        stop_timeout_seconds: {
          default: 5,
          description: 'How long teardown waits after SIGTERM before SIGKILL',
          minimum: 1,
          type: 'integer',
        },
      },
      load: async () => (await import('../local-provider.js')).createLocalProvider,
      name: 'local',
      summary: 'Nodes are NATS processes on loopback addresses of this machine (127.0.0.x)',
    },
  ]
}
