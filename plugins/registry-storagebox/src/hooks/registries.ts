import type {RegistryDescriptor} from 'morpheus/plugin-api'

/** Tiny on purpose: the WebDAV client is imported only when a command uses this backend. */
export default async function registries(): Promise<RegistryDescriptor[]> {
  return [
    {
      apiVersion: 2,
      capabilities: {remote: true},
      configSchema: {
        url: {
          description: "The registry document's WebDAV URL, e.g. https://u123456.your-storagebox.de/morpheus/registry.json",
          type: 'string',
        },
        username: {description: 'WebDAV user (the Storage Box user or a sub-account)', type: 'string'},
        password: {description: 'WebDAV password, best as ${ENV}; never copied anywhere else', secret: true, type: 'string'},
        storagebox_host: {
          description: 'The host cloud nodes mount over CIFS (//<host>/backup), e.g. u123456.your-storagebox.de',
          type: 'string',
        },
        node_username: {
          description:
            "Read-only sub-account cloud nodes mount the registry's folder with (its home directory is that folder), e.g. u123456-sub1; only when `registry init` could not make one through the Hetzner API",
          type: 'string',
        },
        node_password: {
          description: 'Password of registry.node_username, best as ${ENV}; the only Storage Box password that reaches a node',
          secret: true,
          type: 'string',
        },
        timeout_seconds: {default: 30, description: 'How long one WebDAV request may take', minimum: 1, type: 'integer'},
        lock_timeout_seconds: {
          default: 60,
          description:
            "How long a write waits for another writer's lock (longer than lock_expiry_seconds, so a dead writer's lock is waited out)",
          minimum: 0,
          type: 'integer',
        },
        lock_expiry_seconds: {
          default: 20,
          description: 'Lifetime of a write lock on the server: a writer that dies holding one blocks others at most this long',
          minimum: 5,
          maximum: 3600,
          type: 'integer',
        },
        history_revisions: {
          default: 20,
          description: 'How many earlier revisions are kept for `registry history` / `registry restore` (0: none)',
          minimum: 0,
          maximum: 1000,
          type: 'integer',
        },
      },
      load: async () => (await import('../storagebox-registry.js')).createStorageBoxRegistry,
      // `registry init --setup new-box|existing-box`: the set-up is imported only when one is picked.
      setup: {
        choices: [
          {title: 'Create a new Hetzner Storage Box (~3 EUR/month)', value: 'new-box'},
          {title: 'Use an existing Storage Box (or another WebDAV server)', value: 'existing-box'},
        ],
        load: async () => (await import('../setup/setup.js')).setUpStorageBox,
        secrets: ['hetzner_api_token'],
      },
      name: 'storagebox',
      aliases: ['webdav'],
      summary: 'The registry on a Hetzner Storage Box (or any WebDAV server): shared by every device',
    },
  ]
}
