import {randomBytes} from 'node:crypto'

import type {ClusterAuth, NatsMode, SecretStore} from '../plugin-api/index.js'

/** The name of a forest's system-account user in the registry's secret storage (beside cluster_auth). */
export const SYSTEM_USER = 'system_user'

/** The user name Morpheus administers the JetStream cluster with (in the nodes' SYS account). */
export const SYSTEM_USER_NAME = 'morpheus-admin'

/** New credentials of a forest's system-account user: a random password no other forest shares. */
export function newSystemUser(): ClusterAuth {
  return {password: randomBytes(24).toString('base64url'), user: SYSTEM_USER_NAME}
}

/** Only system mode has a system account: Morpheus writes nats.conf there (NimsForest's embedded server has none). */
export function hasSystemAccount(natsMode: NatsMode | undefined): boolean {
  return natsMode === 'system'
}

export async function saveSystemUser(secrets: SecretStore | undefined, forestId: string, user: ClusterAuth): Promise<void> {
  await secrets?.set(forestId, SYSTEM_USER, JSON.stringify(user))
}

/** A forest's system-account user (null when it has none: planted before Morpheus made one, embedded mode, or a registry without secrets). */
export async function loadSystemUser(secrets: SecretStore | undefined, forestId: string): Promise<ClusterAuth | null> {
  const text = await secrets?.get(forestId, SYSTEM_USER)
  if (!text) return null
  try {
    const parsed = JSON.parse(text) as ClusterAuth
    return typeof parsed.user === 'string' && typeof parsed.password === 'string' ? parsed : null
  } catch {
    return null
  }
}
