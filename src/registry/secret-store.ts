import {fromPluginError} from '../errors.js'
import type {SecretStore} from '../plugin-api/index.js'

/**
 * A backend's secret store as the core uses it: whatever it throws (a corrupt secrets file, an
 * unreachable server) becomes a registry error (exit 4) that names the registry, like a failure
 * of the document itself; never an unexpected one.
 */
export function registrySecrets(store: SecretStore | undefined, location: string): SecretStore | undefined {
  if (!store) return undefined
  const wrap = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work()
    } catch (error) {
      throw fromPluginError(error, `registry ${location}: secrets`, 'REGISTRY')
    }
  }
  return {
    delete: (forestId) => wrap(() => store.delete(forestId)),
    get: (forestId, name) => wrap(() => store.get(forestId, name)),
    set: (forestId, name, value) => wrap(() => store.set(forestId, name, value)),
  }
}
