/**
 * Where the backend keeps the read-only account cloud nodes mount the registry's folder with
 * (`registry init` puts it there, nodeAccess() reads it): the registry's secret storage, under a
 * name that belongs to no forest (no forest id starts with `_`).
 */
export const REGISTRY_SECRETS = '_registry'
export const NODE_MOUNT_SECRET = 'node_mount'

/** The node account as kept in the registry's secret storage (JSON). */
export interface NodeMountSecret {
  username: string
  password: string
  /** Host name nodes mount (//<server>/<username>). */
  server: string
}

/** The kept node account, checked; an Error (never quoting the text, which holds a password) when it is not one. */
export function parseNodeMount(text: string): NodeMountSecret {
  let value: Partial<NodeMountSecret> | undefined
  try {
    value = JSON.parse(text) as Partial<NodeMountSecret>
  } catch {
    // below
  }
  if (
    !value ||
    typeof value.username !== 'string' ||
    typeof value.password !== 'string' ||
    typeof value.server !== 'string' ||
    !value.username ||
    !value.password
  ) {
    throw new Error(
      `the nodes' mount account kept in the registry's secret storage (${REGISTRY_SECRETS}/${NODE_MOUNT_SECRET}) is not what \`registry init\` writes`,
    )
  }
  return {password: value.password, server: value.server, username: value.username}
}
