import type {Server} from '../api/types.js'
import {isCode, type Cloud} from './cloud.js'

/** How a server came to be off. */
export type Stopped = 'shut_down' | 'powered_off' | 'was_off' | 'gone'

export interface ShutdownOptions {
  signal: AbortSignal
  progress?: (message: string) => void
  /** How long the operating system may take to shut down before the server is powered off (ms). */
  limitMs: number
}

/** The server's status now; undefined when it is gone. */
async function statusOf(cloud: Cloud, id: number, signal: AbortSignal): Promise<Server['status'] | undefined> {
  try {
    const {server} = await cloud.hc.call(
      `GET /servers/${id}`,
      (api, sig) => api.GET('/servers/{id}', {params: {path: {id}}, signal: sig}),
      signal,
    )
    return server?.status
  } catch (error) {
    if (isCode(error, 'not_found')) return undefined
    throw error
  }
}

/**
 * Shut a server down gracefully and wait until it is off. The `shutdown` action only sends the ACPI
 * request (its success says it was sent, not that the server stopped: the API spec), so the server's
 * status is polled until `off`. Its operating system stops its services: systemd stops nats.service
 * with the unit's KillSignal (SIGUSR2: lame duck mode; templates/partials/cloud-init/nats-unit.hbs).
 * Past `limitMs` (an OS that ignores ACPI, a stop that hangs) the server is powered off, with a
 * warning. Idempotent: a server already off, or gone, is fine. Messages name the server, never a token.
 */
export async function shutDownServer(cloud: Cloud, server: Pick<Server, 'id' | 'name'>, options: ShutdownOptions): Promise<Stopped> {
  const {signal} = options
  const {id, name} = server
  const status = await statusOf(cloud, id, signal)
  if (status === undefined) return 'gone'
  if (status === 'off') return 'was_off'
  const isOff = async () => {
    const now = await statusOf(cloud, id, signal)
    return now === undefined || now === 'off' ? true : undefined
  }
  const limitSeconds = Math.round(options.limitMs / 100) / 10
  try {
    options.progress?.(`shutting ${name} down (systemd stops NATS in lame duck mode); waiting up to ${limitSeconds}s for it to be off`)
    const started = Date.now()
    const {action} = await cloud.hc.call(
      `POST /servers/${id}/actions/shutdown`,
      (api, sig) => api.POST('/servers/{id}/actions/shutdown', {params: {path: {id}}, signal: sig}),
      signal,
    )
    await cloud.waiter.wait(action, `shutting down ${name}`, options.limitMs, signal)
    await cloud.context.helpers.pollUntil(isOff, {
      intervalMs: Math.min(1000, cloud.settings.poll_interval_seconds * 1000),
      signal,
      timeoutMs: Math.max(1, options.limitMs - (Date.now() - started)),
      what: `${name} off`,
    })
    return 'shut_down'
  } catch (error) {
    if (signal.aborted) throw error
    if (isCode(error, 'not_found')) return 'gone'
    cloud.context.log.warn(`${name} did not shut down within ${limitSeconds}s (${(error as Error).message}); powering it off`)
  }
  try {
    const {action} = await cloud.hc.call(
      `POST /servers/${id}/actions/poweroff`,
      (api, sig) => api.POST('/servers/{id}/actions/poweroff', {params: {path: {id}}, signal: sig}),
      signal,
    )
    await cloud.waiter.wait(action, `powering off ${name}`, 60_000, signal)
  } catch (error) {
    if (isCode(error, 'not_found')) return 'gone'
    throw error
  }
  return 'powered_off'
}
