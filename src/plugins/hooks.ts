/**
 * Morpheus's own oclif hooks, declared to oclif's `Hooks` interface (module augmentation), so
 * `config.runHook('morpheus:providers', ...)` is typed and no hook is called through `any`. Part of
 * every compilation that includes src/ (nothing needs to import it; it emits an empty module).
 * What a hook returns comes from another package: the core checks each entry before using it.
 */
import type {ProvidersHookResult, RegistriesHookResult} from '../plugin-api/index.js'

/** An entry of the storagebox plugin's `morpheus:registry-setup` answer (what `registry init` loads by name). */
export interface RegistrySetupOffer {
  apiVersion?: number
  name?: string
  summary?: string
  load?: () => Promise<unknown>
}

declare module '@oclif/core/hooks' {
  interface Hooks {
    'morpheus:providers': {options: Record<string, never>; return: ProvidersHookResult}
    'morpheus:registries': {options: Record<string, never>; return: RegistriesHookResult}
    'morpheus:registry-setup': {options: Record<string, never>; return: RegistrySetupOffer[]}
  }
}
