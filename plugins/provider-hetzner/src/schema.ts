import type {ConfigSchema} from 'morpheus/plugin-api'

/** `providers.hetzner` in the config file. The API token is `secrets.hetzner_api_token` (or HCLOUD_TOKEN / HETZNER_API_TOKEN). */
export const configSchema: ConfigSchema = {
  endpoint: {
    default: '',
    description: "API base URL; empty means Hetzner's (https://api.hetzner.cloud/v1), or HCLOUD_ENDPOINT when set",
    type: 'string',
  },
  server_type: {default: 'cpx22', description: 'Server type of each node (`hcloud server-type list`)', type: 'string'},
  server_types: {
    default: [],
    description: 'Fallback server types, tried in order when the first cannot be ordered or placed',
    type: 'string[]',
  },
  location: {default: 'fsn1', description: 'Location of the nodes (fsn1, nbg1, hel1, ash, hil, sin)', type: 'string'},
  locations: {
    default: [],
    description: 'Fallback locations, tried in order when the server type is unavailable in the first',
    type: 'string[]',
  },
  image: {default: 'ubuntu-24.04', description: 'Operating system image', type: 'string'},
  ssh_key: {default: '', description: 'Name of an SSH key already in the Hetzner project, put on every node', type: 'string'},
  ssh_public_key_path: {
    default: '',
    description: 'A public key file to put on every node; uploaded once (found by fingerprint first)',
    type: 'string',
  },
  ssh_identity_file: {
    default: '',
    description:
      "Private key file for SSH to the nodes (Morpheus reaches a node's NATS client port through SSH for grow, shrink and upgrade); empty: ssh's own keys and agent",
    type: 'string',
  },
  client_access: {
    default: 'ssh',
    description:
      "How Morpheus reaches a node's NATS client port for JetStream administration: ssh (through SSH as root, the default), or direct (this machine reaches the client port itself, e.g. over a VPN)",
    enum: ['ssh', 'direct'],
    type: 'string',
  },
  ipv4: {default: true, description: 'Give each node a public IPv4 address too (IPv6 is always on)', type: 'boolean'},
  route_via: {default: 'ipv6', description: 'Which address the nodes route to each other over', enum: ['ipv6', 'ipv4'], type: 'string'},
  operator_cidrs: {
    default: [],
    description: 'Networks allowed to reach monitoring (8222) besides the nodes; empty: the address this machine is seen from',
    type: 'string[]',
  },
  ssh_cidrs: {default: [], description: 'Networks allowed to reach SSH (22); empty: operator_cidrs', type: 'string[]'},
  public_address_url: {
    default: 'https://ipv4.icanhazip.com',
    description: 'Where to find out the address this machine is seen from, when operator_cidrs is empty',
    type: 'string',
  },
  poll_interval_seconds: {default: 1, description: 'Time between checks of pending actions', minimum: 0.01, type: 'number'},
  boot_timeout_seconds: {default: 300, description: 'How long a server may take to be created and started', minimum: 1, type: 'integer'},
  shutdown_timeout_seconds: {
    default: 120,
    description:
      'How long a server may take to shut down (shrink, upgrade: systemd stops NATS in lame duck mode, at most 45 s) before it is powered off',
    minimum: 1,
    type: 'integer',
  },
  parallel: {default: 10, description: 'At most this many API creations at once', maximum: 50, minimum: 1, type: 'integer'},
  request_timeout_seconds: {default: 30, description: 'Time limit of one API request', minimum: 1, type: 'integer'},
}

export interface Settings {
  endpoint: string
  server_type: string
  server_types: string[]
  location: string
  locations: string[]
  image: string
  ssh_key: string
  ssh_public_key_path: string
  ssh_identity_file: string
  client_access: 'ssh' | 'direct'
  ipv4: boolean
  route_via: 'ipv6' | 'ipv4'
  operator_cidrs: string[]
  ssh_cidrs: string[]
  public_address_url: string
  poll_interval_seconds: number
  boot_timeout_seconds: number
  shutdown_timeout_seconds: number
  parallel: number
  request_timeout_seconds: number
}

/** The section with every default filled in (the core fills them too; a unit test's context may not). */
export function settingsOf(config: Record<string, unknown>): Settings {
  const out: Record<string, unknown> = {}
  for (const [key, schema] of Object.entries(configSchema)) out[key] = config[key] ?? schema.default
  return out as unknown as Settings
}
