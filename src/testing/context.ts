import type {PluginContext, TemplateRenderer} from '../plugin-api/index.js'
import {createRenderer} from '../templates/render.js'
import {helpers} from '../plugins/helpers.js'
import {pluginError} from '../plugins/errors.js'

/**
 * A plugin context like the one the core builds, for constructing a plugin in a test: the given
 * config section (no schema defaults are applied), real helpers and errors, a silent logger.
 */
export function testContext(config: Record<string, unknown> = {}, extra: Partial<PluginContext> = {}): PluginContext {
  return {
    apiVersion: 2,
    config,
    configDir: '/',
    dataDir: '/',
    device: 'test-device',
    error: pluginError,
    helpers,
    log: {debug() {}, info() {}, warn() {}},
    ports: {client: 4222, cluster: 6222, monitor: 8222},
    resolvePath: (value) => value,
    secrets: {},
    signal: new AbortController().signal,
    templates: {} as PluginContext['templates'],
    ...extra,
  }
}

/** The core's template renderer (its templates/, then `dirs` first), for a test context's `templates`. */
export function testTemplates(dirs: string[] = []): Promise<TemplateRenderer> {
  return createRenderer({dirs})
}
