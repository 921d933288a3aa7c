import {MemoryRegistry, registryConformance} from 'morpheus/testing'

// The in-memory reference backend passes the kit that every registry plugin runs.
registryConformance({create: () => new MemoryRegistry(), features: {history: true, secrets: true}, name: 'memory (reference)'})
