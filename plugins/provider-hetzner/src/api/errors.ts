import type {PluginContext, PluginErrorCode, PluginErrorShape} from 'morpheus/plugin-api'

/**
 * What each Hetzner error code means for the user, from the API's documented codes
 * (https://docs.hetzner.cloud/reference/cloud#errors) and the operation specific ones of the operations
 * Morpheus calls. `retry`: what Hetzner says may be tried again, and refused the request without doing it:
 * conflict ("please retry"), rate_limit_exceeded (after RateLimit-Reset), locked (an action is running on
 * the resource: it ends), service_error, timeout, and of the server errors 502 and 504 (as Hetzner's own
 * client does). Everything else fails at once, with the code and a hint.
 */
const CODES: Record<string, {kind: PluginErrorCode; hint: string; retry?: boolean}> = {
  conflict: {hint: 'The resource was changed by another request at the same moment; run the command again.', kind: 'FAILED', retry: true},
  forbidden: {
    hint: 'The token is not allowed to do this: a read-only token cannot create servers. Create a "Read & Write" token in the Hetzner Console (your project > Security > API tokens) and set secrets.hetzner_api_token.',
    kind: 'AUTH',
  },
  invalid_input: {
    hint: 'Check the server type, image, location and SSH key names in providers.hetzner (`morpheus config list`).',
    kind: 'FAILED',
  },
  json_error: {hint: 'Morpheus sent a body the API could not read; please report this.', kind: 'FAILED'},
  firewall_managed_by_label_selector: {
    hint: 'The firewall reaches that server through its label selector; remove the selector from the firewall instead (Morpheus does so at teardown).',
    kind: 'FAILED',
  },
  firewall_resource_not_found: {hint: 'The firewall is not applied to that resource (any more); run the command again.', kind: 'FAILED'},
  locked: {hint: 'Another action is running on this resource; wait a moment and run the command again.', kind: 'FAILED', retry: true},
  must_be_unassigned: {
    hint: 'The Primary IP is still assigned to a server that is not part of the forest: unassign it in the Hetzner Console (Primary IPs > Unassign) or delete that server, then run the command again.',
    kind: 'FAILED',
  },
  maintenance: {hint: 'Hetzner Cloud is under maintenance; try again later (status.hetzner.com).', kind: 'UNREACHABLE'},
  not_found: {hint: 'The resource does not exist (any more).', kind: 'NOT_FOUND'},
  primary_ip_assigned: {
    hint: "The node's Primary IP is assigned to another server: unassign it in the Hetzner Console (Primary IPs > Unassign) or delete that server, then run the command again.",
    kind: 'FAILED',
  },
  primary_ip_datacenter_mismatch: {
    hint: "The node's Primary IP is in another location than its server; `morpheus teardown` the forest and plant again.",
    kind: 'FAILED',
  },
  placement_error: {
    hint: 'Hetzner could not place the server; add other locations or server types to providers.hetzner.locations / server_types, or try later.',
    kind: 'FAILED',
  },
  protected: {hint: 'The resource has delete protection; turn it off in the Hetzner Console, then run the command again.', kind: 'FAILED'},
  rate_limit_exceeded: {
    hint: 'The project used up its API requests (3600 an hour); wait a few minutes, and avoid running many commands at once.',
    kind: 'FAILED',
    retry: true,
  },
  resource_in_use: {
    hint: 'The resource is still in use (a firewall still applied to a label selector or a server); run the command again: Morpheus removes what holds it first.',
    kind: 'FAILED',
  },
  resource_limit_exceeded: {
    hint: "The project's limit (servers, cores or Primary IPs) is reached: delete unused resources or ask Hetzner for a higher limit (Console > your project > Limits).",
    kind: 'FAILED',
  },
  resource_unavailable: {
    hint: 'The server type cannot be ordered in that location right now: pick another with providers.hetzner.location/server_type, or add fallbacks (locations, server_types).',
    kind: 'FAILED',
  },
  server_error: {hint: 'The Hetzner API failed; try again in a few minutes (status.hetzner.com).', kind: 'UNREACHABLE'},
  service_error: {hint: 'Hetzner had an internal error; try again in a few minutes.', kind: 'FAILED', retry: true},
  timeout: {hint: 'The API did not answer in time; try again.', kind: 'UNREACHABLE', retry: true},
  token_readonly: {
    hint: 'The token is read-only: create a "Read & Write" token in the Hetzner Console and set secrets.hetzner_api_token.',
    kind: 'AUTH',
  },
  unavailable: {
    hint: 'A Hetzner service is not available right now; try again in a few minutes (status.hetzner.com).',
    kind: 'UNREACHABLE',
  },
  unauthorized: {
    hint: 'The API token was refused: check secrets.hetzner_api_token in the config (or HCLOUD_TOKEN / HETZNER_API_TOKEN), and that it belongs to the right project.',
    kind: 'AUTH',
  },
  uniqueness_error: {
    hint: 'A resource with that name already exists in the project: delete it, or tear down the forest that owns it (`morpheus teardown --orphans`).',
    kind: 'FAILED',
  },
}

export interface HetznerErrorFields {
  /** Hetzner's error code (e.g. uniqueness_error), or a status-derived one (http_503). */
  hcloudCode: string
  status?: number
  /** Hetzner's own retry rule says this may be tried again. */
  retryable: boolean
  /** For rate_limit_exceeded: when the limit resets (ms since the epoch). */
  resetAt?: number
  details?: unknown
}

export type HetznerError = PluginErrorShape & HetznerErrorFields

export function isHetznerError(error: unknown): error is HetznerError {
  return typeof (error as HetznerError)?.hcloudCode === 'string'
}

/** Build the error for a failed API call: "<what>: <code> (<status>): <message>", with the code's hint. */
export function apiError(
  context: Pick<PluginContext, 'error'>,
  what: string,
  fields: {code: string; message?: string; status?: number; resetAt?: number; details?: unknown},
): HetznerError {
  const known = CODES[fields.code]
  let kind: PluginErrorCode = known?.kind ?? 'FAILED'
  let hint = known?.hint
  let retry = known?.retry ?? false
  const status = fields.status
  if (status !== undefined && status >= 500) {
    // Hetzner's rule: of the server errors only 502 and 504 are tried again.
    retry = retry || status === 502 || status === 504
    kind = 'UNREACHABLE'
    hint ??= 'The Hetzner API is failing; try again in a few minutes (status.hetzner.com).'
  }
  hint ??= 'See https://docs.hetzner.cloud/reference/cloud#errors for this code.'
  const statusText = status === undefined ? '' : ` (HTTP ${status})`
  const message = `${what}: ${fields.code}${statusText}${fields.message ? `: ${fields.message}` : ''}`
  const error = context.error(kind, message, hint, {transient: retry}) as HetznerError
  return Object.assign(error, {
    details: fields.details,
    hcloudCode: fields.code,
    resetAt: fields.resetAt,
    retryable: retry,
    status,
  })
}
