/**
 * Morpheus's own oclif hooks, declared to oclif's `Hooks` interface (module augmentation), so
 * `config.runHook('morpheus:providers', ...)` is typed and no hook is called through `any`. Part of
 * every compilation that includes src/ (nothing needs to import it; it emits an empty module).
 * What a hook returns comes from another package: the core checks each entry before using it
 * (src/plugins/discovery.ts). Backends extend the contract through optional descriptor and backend
 * members (RegistryDescriptor.setup, RegistryBackend.nodeAccess), never through hooks of their own.
 */
import type {ProvidersHookResult, RegistriesHookResult} from '../plugin-api/index.js'

declare module '@oclif/core/hooks' {
  interface Hooks {
    'morpheus:providers': {options: Record<string, never>; return: ProvidersHookResult}
    'morpheus:registries': {options: Record<string, never>; return: RegistriesHookResult}
  }
}
