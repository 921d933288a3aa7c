import type {ForestOperation, ForestRecord, NatsPorts, NodeRecord, NodeVersions} from '../plugin-api/index.js'

/**
 * The forest and node objects every command's --json uses (schemas/common.json: forest, node):
 * the registry's records with a fixed set of fields, in a fixed order, each present (null when
 * the record has no value). Whatever else a record holds (a claim token, a field a plugin added)
 * stays in the registry: `morpheus registry show` prints the document as it is.
 */
export interface ForestJson {
  id: string
  provider: string
  /** The size name planted, or `custom` when --nodes gave the count. */
  size: string
  status: ForestRecord['status']
  /** Nodes the forest should have (planted, raised by grow); `nodes` lists those recorded. */
  node_count: number
  nats_mode: NonNullable<ForestRecord['nats_mode']> | null
  location: string | null
  device: string | null
  ports: NatsPorts | null
  created_at: string
  last_expansion: string | null
  operation: OperationJson | null
  note: string | null
  /** What the nodes run (recorded at plant, changed by upgrade); null for forests planted before versions were recorded. */
  versions: NodeVersions | null
}

export type OperationJson = Omit<ForestOperation, 'token'>

export interface NodeJson {
  id: string
  forest_id: string
  ip: string
  ipv4: string | null
  ipv6: string | null
  probe_address: string | null
  ports: NatsPorts | null
  role: string
  status: NodeRecord['status']
  created_at: string
  provider_ref: string | null
  memory_bytes: number | null
  versions: NodeVersions | null
}

export function operationJson(op: ForestOperation | null | undefined): OperationJson | null {
  if (!op) return null
  return {device: op.device, kind: op.kind, pid: op.pid, started_at: op.started_at}
}

export function forestJson(f: ForestRecord): ForestJson {
  return {
    id: f.id,
    provider: f.provider,
    size: f.size,
    status: f.status,
    node_count: f.node_count,
    nats_mode: f.nats_mode ?? null,
    location: f.location ?? null,
    device: f.device ?? null,
    ports: f.ports ?? null,
    created_at: f.created_at,
    last_expansion: f.last_expansion ?? null,
    operation: operationJson(f.operation),
    note: f.note ?? null,
    versions: f.versions ?? null,
  }
}

export function nodeJson(n: NodeRecord): NodeJson {
  return {
    id: n.id,
    forest_id: n.forest_id,
    ip: n.ip,
    ipv4: n.ipv4 ?? null,
    ipv6: n.ipv6 ?? null,
    probe_address: n.probe_address ?? null,
    ports: n.ports ?? null,
    role: n.role,
    status: n.status,
    created_at: n.created_at,
    provider_ref: n.provider_ref ?? null,
    memory_bytes: n.memory_bytes ?? null,
    versions: n.versions ?? null,
  }
}

/** A node object with a command's own fields after the record's (plant: client, monitor; status: monitor, health). */
export function nodeWith<E extends object>(n: NodeRecord, extra: E): NodeJson & E {
  return {...nodeJson(n), ...extra}
}
