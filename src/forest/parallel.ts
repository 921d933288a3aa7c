import type {ProviderCapabilities} from '../plugin-api/index.js'
import type {ForestSettings} from './deps.js'

/**
 * How many createNode calls run at once. A cloud plant waits on the cloud, not on this machine, so
 * its provider's own bound decides (hetzner: 10, every server booting in one round); local processes
 * share this machine's cores, so they keep forest.parallel's default (5). A forest.parallel the user
 * set applies to both, never beyond the provider's bound.
 */
export function createLimit(
  settings: Pick<ForestSettings, 'parallel' | 'parallelSet'>,
  capabilities: Pick<ProviderCapabilities, 'cloud' | 'maxParallel'>,
): number {
  const wanted = capabilities.cloud && !settings.parallelSet ? capabilities.maxParallel : settings.parallel
  return Math.max(1, Math.min(wanted, capabilities.maxParallel))
}
