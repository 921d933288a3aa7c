import {mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'

import {guardBackend} from '../plugins/guard.js'
import type {RegistryBackend, RegistryProbe} from '../plugin-api/index.js'

const FRESH_MS = 24 * 3600_000

function file(cacheDir: string): string {
  return join(cacheDir, 'registry-probe.json')
}

function readAll(cacheDir: string): Record<string, {probe: RegistryProbe; at: number}> {
  try {
    return JSON.parse(readFileSync(file(cacheDir), 'utf8'))
  } catch {
    return {}
  }
}

/** Run the backend's probe now and remember the answer for this location (registry init, or a write that behaved unexpectedly). */
export async function probeNow(backend: RegistryBackend, cacheDir: string): Promise<RegistryProbe> {
  // A backend obtained through the runtime is guarded already; one given directly is guarded here.
  const probe = await guardBackend(backend).probe()
  try {
    const all = readAll(cacheDir)
    all[backend.location] = {at: Date.now(), probe}
    mkdirSync(dirname(file(cacheDir)), {recursive: true})
    const tmp = `${file(cacheDir)}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(all, null, 2), {mode: 0o600})
    renameSync(tmp, file(cacheDir))
  } catch {
    // A cache we cannot write only costs a probe next time.
  }
  return probe
}

/**
 * How the backend makes writes safe: the answer remembered from the last probe of this location
 * (at most a day old, and never a refusal), else a new probe. Locations never hold credentials.
 */
export async function knownProbe(backend: RegistryBackend, cacheDir: string): Promise<RegistryProbe> {
  const hit = readAll(cacheDir)[backend.location]
  if (hit && Date.now() - hit.at < FRESH_MS && hit.probe.concurrency !== 'none') return hit.probe
  return probeNow(backend, cacheDir)
}
