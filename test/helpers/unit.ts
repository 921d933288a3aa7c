import type {PluginContext} from 'morpheus/plugin-api'

import {resolveConfigPath, type LoadedConfig} from '../../src/config/config.js'
import {testContext} from '../../src/testing/context.js'

/** A plugin context, as the core builds it, for constructing a plugin in a unit test. */
export function pluginContext(config: Record<string, unknown> = {}, configDir = '/', extra: Partial<PluginContext> = {}): PluginContext {
  // The core's own path rule, as the runtime hands it to plugins.
  return testContext(config, {configDir, resolvePath: (value) => resolveConfigPath({dir: configDir} as LoadedConfig, value), ...extra})
}

/** The error a promise rejects with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

/** Resolves once `check()` holds (looked at every 10 ms); throws after `ms`. */
export async function until(check: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !check();) {
    if (Date.now() > end) throw new Error('condition not reached in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}
