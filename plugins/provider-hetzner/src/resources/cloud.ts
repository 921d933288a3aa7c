import type {PluginContext} from 'morpheus/plugin-api'

import type {ActionWaiter} from '../api/actions.js'
import type {Hcloud} from '../api/client.js'
import {isHetznerError} from '../api/errors.js'
import type {Settings} from '../schema.js'

/** Clean-up runs on its own clock: it must finish even after Ctrl-C aborted the command's signal. */
export const CLEANUP_MS = 180_000

/** What this run created, so a failure removes exactly that. */
export interface Created {
  firewalls: Set<number>
  primaryIps: Set<number>
  servers: Set<number>
}

/**
 * What every resource module works with: the API client and action waiter (made on first use, so a
 * missing token is PREREQUISITE before any request), the plugin context, the settings, and the record
 * of what this run created. The provider is one.
 */
export interface Cloud {
  readonly context: PluginContext
  readonly settings: Settings
  readonly hc: Hcloud
  readonly waiter: ActionWaiter
  readonly created: Created
}

export function isCode(error: unknown, ...codes: string[]): boolean {
  return isHetznerError(error) && codes.includes(error.hcloudCode)
}

/**
 * Run fn over items, at most `limit` at once (the core's mapLimit); the first error to happen is
 * thrown after all have settled.
 */
export async function eachLimit<T>(cloud: Cloud, items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let first: {error: unknown} | undefined
  await cloud.context.helpers.mapLimit(items, limit, async (item) => {
    try {
      await fn(item)
    } catch (error) {
      first ??= {error}
    }
  })
  if (first) throw first.error
}
