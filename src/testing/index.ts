/**
 * `morpheus/testing`: what a plugin's own tests can use. The conformance kits check that a
 * provider or registry backend does what the core relies on; the in-memory registry and
 * provider are references (and what the core's engine tests run on).
 */
export {registryConformance, type RegistryKitOptions} from './registry-kit.js'
export {providerConformance, type ProviderKitOptions, type ProviderKitSetup} from './provider-kit.js'
export {MemoryRegistry, instrument, type BackendCounts} from './memory-registry.js'
export {MemoryProvider, type MemoryProviderOptions} from './memory-provider.js'
export {testContext, testTemplates} from './context.js'
export type {TestRunner} from './kit-support.js'
