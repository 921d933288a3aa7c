import type {PluginContext} from 'morpheus/plugin-api'

import type {Hcloud} from './api/client.js'
import type {Image, ServerType} from './api/types.js'
import type {Settings} from './schema.js'

/** One way to order a node: a server type in a location. */
export interface Choice {
  type: ServerType
  location: string
}

export interface Plan {
  /** Every orderable (type, location), in the configured order: locations first, then types. */
  choices: Choice[]
  image: Image
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list.filter((x) => x))]
}

/**
 * Look the configured server types, locations and image up, and keep the (type, location) pairs that can be
 * ordered now. Two requests in the usual case (one type, one image); more only to explain an unknown name.
 */
export async function makePlan(hc: Hcloud, context: Pick<PluginContext, 'error' | 'log'>, s: Settings, signal: AbortSignal): Promise<Plan> {
  const typeNames = unique([s.server_type, ...s.server_types])
  const locationNames = unique([s.location, ...s.locations])
  const types: ServerType[] = []
  for (const name of typeNames) {
    const found = await hc.call(
      `GET /server_types?name=${name}`,
      (api, sig) => api.GET('/server_types', {params: {query: {name}}, signal: sig}),
      signal,
    )
    const type = found.server_types.find((t) => t.name === name)
    if (!type) {
      const all = await hc.all(
        'GET /server_types',
        (api, page, sig) => api.GET('/server_types', {params: {query: {page, per_page: 50}}, signal: sig}),
        (d) => d.server_types,
        signal,
      )
      throw context.error(
        'FAILED',
        `unknown server type "${name}"`,
        `Pick one of: ${all
          .filter((t) => !t.deprecated)
          .map((t) => t.name)
          .join(', ')} (providers.hetzner.server_type / server_types).`,
      )
    }
    types.push(type)
  }
  const offered = new Set(types.flatMap((t) => t.locations.map((l) => l.name)))
  const unknown = locationNames.filter((l) => !offered.has(l))
  if (unknown.length > 0) {
    const all = await hc.all(
      'GET /locations',
      (api, page, sig) => api.GET('/locations', {params: {query: {page, per_page: 50}}, signal: sig}),
      (d) => d.locations,
      signal,
    )
    const names = new Set(all.map((l) => l.name))
    const bad = unknown.filter((l) => !names.has(l))
    if (bad.length > 0)
      throw context.error(
        'FAILED',
        `unknown location "${bad[0]}"`,
        `Pick one of: ${[...names].join(', ')} (providers.hetzner.location / locations).`,
      )
  }
  const choices: Choice[] = []
  for (const location of locationNames) {
    for (const type of types) {
      const where = type.locations.find((l) => l.name === location)
      if (where?.available && !where.deprecation) choices.push({location, type})
    }
  }
  if (choices.length === 0) {
    throw context.error(
      'FAILED',
      `${typeNames.join(', ')} cannot be ordered in ${locationNames.join(', ')} right now`,
      'Add other locations or server types as fallbacks (providers.hetzner.locations, providers.hetzner.server_types), or try later.',
    )
  }
  const first = choices[0]
  if (first.type.name !== typeNames[0] || first.location !== locationNames[0]) {
    context.log.warn(
      `${typeNames[0]} cannot be ordered in ${locationNames[0]} right now; using ${first.type.name} in ${first.location} (configured fallback)`,
    )
  }
  const architecture = first.type.architecture
  const images = await hc.call(
    `GET /images?name=${s.image}`,
    (api, sig) => api.GET('/images', {params: {query: {architecture, name: s.image}}, signal: sig}),
    signal,
  )
  const image = images.images.find((i) => i.name === s.image)
  if (!image)
    throw context.error(
      'FAILED',
      `unknown image "${s.image}" for ${architecture} servers`,
      'Set providers.hetzner.image to a system image name such as ubuntu-24.04 (`hcloud image list --type system`).',
    )
  return {choices, image}
}
