import type {RegistryDescriptor} from 'morpheus/plugin-api'

/** Tiny on purpose: the implementation is imported only when a command uses this backend. */
export default async function registries(): Promise<RegistryDescriptor[]> {
  return [
    {
      apiVersion: 2,
      capabilities: {remote: false},
      configSchema: {
        path: {
          default: 'registry.json',
          description: "The registry file (relative paths start at the config file's directory)",
          type: 'string',
        },
        lock_timeout_seconds: {default: 10, description: "How long a write waits for another process's lock", minimum: 1, type: 'integer'},
      },
      load: async () => (await import('../file-registry.js')).createFileRegistry,
      name: 'none',
      aliases: ['file', 'local'],
      summary: 'No remote storage: the registry is a file on this machine (one device only)',
    },
  ]
}
