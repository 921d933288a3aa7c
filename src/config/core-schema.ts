import type {ConfigSchema} from '../plugin-api/index.js'

/**
 * The keys the core itself reads. Plugin sections (`providers.<name>`, the backend's
 * keys under `registry`) are validated against the plugin's own schema when used.
 */
export const coreSchema: ConfigSchema = {
  infrastructure: {
    type: 'object',
    description: 'Where forests are planted',
    properties: {
      provider: {type: 'string', description: 'The provider `morpheus plant cloud` uses', default: 'hetzner'},
    },
  },
  registry: {
    type: 'map',
    description: 'Where the registry document lives. `type` picks the backend (none, storagebox, s3, ...); the other keys belong to that backend',
  },
  forest: {
    type: 'object',
    description: 'How forests are shaped',
    properties: {
      sizes: {
        type: 'map',
        description: 'Node count of each size name (odd counts keep a JetStream quorum)',
        values: {type: 'integer', description: 'nodes', minimum: 1, maximum: 100},
        default: {small: 1, medium: 3, large: 5},
      },
      form_timeout_seconds: {
        type: 'integer',
        description: 'How long plant waits for every node to route to every other and for a JetStream leader',
        default: 60,
        minimum: 1,
      },
      parallel: {type: 'integer', description: 'At most this many nodes are created at once', default: 5, minimum: 1},
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
  growth: {type: 'map', description: 'Settings for `morpheus grow` (thresholds, cooldown, limits)'},
  integration: {type: 'map', description: 'What gets installed on cloud nodes (NimsForest download URL, NATS version)'},
  secrets: {
    type: 'map',
    description: 'Credentials, best given as ${ENV} references',
    values: {type: 'string', description: 'a secret', secret: true},
  },
}
