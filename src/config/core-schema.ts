import type {ConfigSchema} from '../plugin-api/index.js'
import type {SchemaValues} from './schema.js'

/**
 * The keys the core itself reads. Plugin sections (`providers.<name>`, the backend's
 * keys under `registry`) are validated against the plugin's own schema when used.
 */
export const coreSchema = {
  infrastructure: {
    type: 'object',
    description: 'Where forests are planted',
    properties: {
      provider: {type: 'string', description: 'The provider `morpheus plant cloud` uses', default: 'hetzner'},
    },
  },
  registry: {
    type: 'map',
    description:
      'Where the registry document lives. `type` picks the backend (none, storagebox, s3, ...); the other keys belong to that backend',
  },
  forest: {
    type: 'object',
    description: 'How forests are shaped',
    properties: {
      sizes: {
        type: 'map',
        description: 'Node count of each size name (odd counts keep a JetStream quorum)',
        values: {type: 'integer', description: 'The node count of this size, 1 to 100', minimum: 1, maximum: 100},
        default: {small: 1, medium: 3, large: 5},
      },
      form_timeout_seconds: {
        type: 'integer',
        description: 'How long plant waits for every node to route to every other and for a JetStream leader',
        default: 60,
        minimum: 1,
      },
      parallel: {
        type: 'integer',
        description:
          "At most this many nodes are created at once. Unset: 5 for local processes; a cloud plant uses its provider's own bound (hetzner: 10)",
        default: 5,
        minimum: 1,
      },
      nats_mode: {
        type: 'string',
        description: 'system: nats-server beside NimsForest; embedded: NimsForest embeds NATS',
        enum: ['system', 'embedded'],
        default: 'system',
      },
      ports: {
        type: 'object',
        description: 'Ports every node listens on (the same on cloud and local nodes)',
        properties: {
          client: {type: 'integer', description: 'NATS client port', default: 4222, minimum: 1, maximum: 65535},
          cluster: {type: 'integer', description: 'NATS cluster (route) port', default: 6222, minimum: 1, maximum: 65535},
          monitor: {type: 'integer', description: 'NATS HTTP monitoring port', default: 8222, minimum: 1, maximum: 65535},
        },
      },
    },
  },
  providers: {
    type: 'map',
    description: "Each provider's own settings, under its name (see `morpheus providers`)",
    values: {type: 'map', description: 'provider settings'},
  },
  growth: {
    type: 'object',
    description: 'When `morpheus grow --auto` adds nodes (thresholds are percentages of the forest average)',
    properties: {
      enabled: {type: 'boolean', description: 'false: grow --auto only reports, it never adds a node', default: true},
      threshold_cpu: {
        type: 'number',
        description: 'Grow when the average CPU (process CPU / cores) is above this %',
        default: 80,
        minimum: 0,
        maximum: 100,
      },
      threshold_memory: {
        type: 'number',
        description: "Grow when the average memory (NATS RSS / the node's RAM) is above this %",
        default: 80,
        minimum: 0,
        maximum: 100,
      },
      threshold_storage: {
        type: 'number',
        description: 'Grow when the average JetStream file storage in use is above this % of its limit',
        default: 80,
        minimum: 0,
        maximum: 100,
      },
      max_nodes: {type: 'integer', description: 'Never grow a forest beyond this many nodes', default: 10, minimum: 1, maximum: 100},
      cooldown_minutes: {
        type: 'number',
        description: "Wait this long after a forest's last expansion (recorded in the registry) before growing it again",
        default: 15,
        minimum: 0,
      },
      max_per_run: {type: 'integer', description: 'Add at most this many nodes in one run', default: 1, minimum: 1, maximum: 10},
      max_unreachable: {
        type: 'integer',
        description: 'Add nothing while more than this many nodes do not answer (a network fault is not load)',
        default: 0,
        minimum: 0,
      },
    },
  },
  repair: {
    type: 'object',
    description: 'How `morpheus repair` and `morpheus upgrade` wait, and how often `repair --auto` may act (docs/repair.md)',
    properties: {
      cooldown_minutes: {
        type: 'number',
        description:
          "repair --auto replaces a node at most this often per forest (measured from the forest's last repair, recorded in the registry)",
        default: 15,
        minimum: 0,
      },
      streams_timeout_seconds: {
        type: 'integer',
        description: 'How long replicated streams may take to get every replica current again after a node is replaced',
        default: 120,
        minimum: 1,
      },
    },
  },
  templates: {
    type: 'object',
    description: 'Your own Handlebars templates (docs/bootstrap.md)',
    properties: {
      dir: {
        type: 'string',
        description:
          'A directory searched before the provider plugin\'s and the core\'s templates ("" for none); relative to the config file',
        default: '',
      },
    },
  },
  integration: {
    type: 'object',
    description: 'What the cloud-init user data installs and sets up on cloud nodes (docs/bootstrap.md)',
    properties: {
      nimsforest_download_url: {
        type: 'string',
        description: 'Where nodes download the NimsForest binary; {arch} becomes amd64 or arm64 on the node',
        default: 'https://nimsforest.io/bin/nimsforest',
      },
      nimsforest_sha256: {type: 'string', description: 'Expected sha256 of that download ("" for no check)', default: ''},
      nats_install: {
        type: 'boolean',
        description: "System mode: download nats-server (true) or use the image's /usr/local/bin/nats-server (false)",
        default: true,
      },
      nats_version: {type: 'string', description: 'System mode: the nats-server release to install', default: '2.10.24'},
      nats_download_url: {
        type: 'string',
        description: 'System mode: the nats-server release archive; {version} and {arch} are filled in',
        default: 'https://github.com/nats-io/nats-server/releases/download/v{version}/nats-server-v{version}-linux-{arch}.tar.gz',
      },
      nats_sha256: {type: 'string', description: 'Expected sha256 of the nats-server archive ("" for no check)', default: ''},
      jetstream_max_memory: {
        type: 'string',
        description: 'System mode: JetStream memory limit per node, e.g. 1G ("" for the server default)',
        default: '',
      },
      jetstream_max_file: {
        type: 'string',
        description: 'System mode: JetStream file storage limit per node, e.g. 10G ("" for the server default)',
        default: '',
      },
      client_local_only: {
        type: 'boolean',
        description:
          'System mode: the NATS client port listens on 127.0.0.1 only (false: on every address, admitted by the host firewall from forest nodes only)',
        default: true,
      },
      route_tls: {
        type: 'boolean',
        description: 'System mode: encrypt routes with mutual TLS (needs the three route_tls_*_file keys)',
        default: false,
      },
      route_tls_ca_file: {type: 'string', description: 'PEM file of the CA that signed the route certificate', default: ''},
      route_tls_cert_file: {type: 'string', description: 'PEM file of the certificate every node presents on routes', default: ''},
      route_tls_key_file: {
        type: 'string',
        description: "PEM file of its private key (copied into each node's user data, 0600 on the node)",
        default: '',
      },
    },
  },
  secrets: {
    type: 'map',
    description: 'Credentials, best given as ${ENV} references',
    values: {type: 'string', description: 'a secret', secret: true},
  },
} as const satisfies ConfigSchema

/**
 * The core's config as `LoadedConfig.values` holds it: validated against coreSchema and defaulted,
 * so its type is derived from the schema (a key added there is typed here, no cast needed).
 */
export type CoreConfig = SchemaValues<typeof coreSchema>
