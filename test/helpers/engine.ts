import type {ForestDeps, ForestSettings} from '../../src/forest/deps.js'
import {Growth, type AddNodesRequest, type AddNodesResult} from '../../src/forest/grow.js'
import {Plant, type PlantRequest, type PlantResult} from '../../src/forest/plant.js'
import {OperationRunner, type Outcome} from '../../src/forest/runner.js'
import type {ProviderCapabilities} from '../../src/plugin-api/index.js'
import type {StreamsLook} from '../../src/monitor/streams.js'
import {RegistryStore, type StoreOptions} from '../../src/registry/store.js'
import {MemoryProvider, type MemoryProviderOptions} from '../../src/testing/memory-provider.js'
import {MemoryRegistry} from '../../src/testing/memory-registry.js'

export interface Engine {
  deps: ForestDeps
  backend: MemoryRegistry
  provider: MemoryProvider
  controller: AbortController
  warnings: string[]
  lines: string[]
}

/** The forest engine on an in-memory provider and registry, with a fake NATS monitor. */
export function engine(
  options: {
    provider?: MemoryProviderOptions
    capabilities?: Partial<ProviderCapabilities>
    settings?: Partial<ForestSettings>
    store?: StoreOptions
    backend?: MemoryRegistry
    device?: string
  } = {},
): Engine {
  const backend = options.backend ?? new MemoryRegistry()
  const provider = new MemoryProvider(options.provider)
  const controller = new AbortController()
  const warnings: string[] = []
  const lines: string[] = []
  const capabilities: ProviderCapabilities = {
    cloud: false,
    machineLocal: false,
    maxParallel: 4,
    natsModes: ['system'],
    ...options.capabilities,
  }
  const deps: ForestDeps = {
    device: options.device ?? 'device-a',
    log: {debug() {}, info() {}, warn: (m) => warnings.push(m)},
    monitor: provider.monitor,
    pollMs: 1,
    progress: {report: (m) => lines.push(m)},
    provider: async (name) => {
      if (name !== 'memory') throw Object.assign(new Error(`unknown provider "${name}"`), {code: 'FAILED'})
      return {capabilities, name: 'memory', provider}
    },
    secrets: backend.secrets,
    settings: {
      form_timeout_seconds: 2,
      nats_mode: 'system',
      parallel: 5,
      ports: {client: 4222, cluster: 6222, monitor: 8222},
      sizes: {large: 5, medium: 3, small: 1},
      ...options.settings,
    },
    signal: controller.signal,
    store: new RegistryStore(backend, options.store),
  }
  return {backend, controller, deps, lines, provider, warnings}
}

/** The stored document, parsed. */
export function stored(backend: MemoryRegistry): any {
  return JSON.parse(backend.stored ?? 'null')
}

/** A plant through the operation runner, as a command runs it (no phases shown). */
export async function plant(deps: ForestDeps, request: PlantRequest): Promise<PlantResult> {
  const {result} = await new OperationRunner({signal: deps.signal}).run(await Plant.prepare(deps, request))
  return result
}

/** A growth through the operation runner: done, refused or busy. */
export async function grow(deps: ForestDeps, request: AddNodesRequest): Promise<Outcome<AddNodesResult>> {
  return new OperationRunner({signal: deps.signal}).run(await Growth.prepare(deps, request))
}

/** An R3 stream led by node-1 with node-2 and node-3 current: what a whole three-node forest's /jsz shows. */
export const CURRENT_R3 = {
  account: '$G',
  current: true,
  followers: [
    {current: true, name: 'node-2'},
    {current: true, name: 'node-3'},
  ],
  leader: 'node-1',
  name: 'R3',
  replicas: 3,
}

/** A streams look (the `streams` option of repair and upgrade) that finds only CURRENT_R3. */
export const currentStreams = async (): Promise<StreamsLook> => ({streams: [CURRENT_R3], unanswered: {}})
