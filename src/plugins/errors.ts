import type {PluginErrorCode, PluginErrorOptions, PluginErrorShape} from '../plugin-api/index.js'

/** context.error(): an Error with a code the core maps to an exit code, a hint, and whether a retry may help. */
export function pluginError(code: PluginErrorCode, message: string, hint?: string, options: PluginErrorOptions = {}): PluginErrorShape {
  const error = new Error(message, options.cause === undefined ? undefined : {cause: options.cause})
  return Object.assign(error, {code, hint, ...(options.transient ? {transient: true} : {})})
}
