import type {PluginContext} from 'morpheus/plugin-api'

import {resolveConfigPath, type LoadedConfig} from '../../src/config/config.js'

/** A minimal plugin context, as the core builds it, for constructing a plugin in a unit test. */
export function pluginContext(config: Record<string, unknown> = {}, configDir = '/'): PluginContext {
  return {
    config,
    configDir,
    // The core's own path rule, as the runtime hands it to plugins.
    resolvePath: (value) => resolveConfigPath({dir: configDir} as LoadedConfig, value),
    dataDir: '/',
    error: (code, message, hint) => Object.assign(new Error(message), {code, hint}),
    log: {debug() {}, info() {}, warn() {}},
    ports: {client: 4222, cluster: 6222, monitor: 8222},
    templates: {} as PluginContext['templates'],
  }
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
