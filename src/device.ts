import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {hostname} from 'node:os'

let cached: string | undefined

/**
 * This device's identity, recorded on forests whose nodes are processes of one machine:
 * the host name and a short hash of /etc/machine-id (stable across reboots and HOMEs).
 * MORPHEUS_DEVICE overrides it (tests use it to play a second device).
 */
export function deviceId(): string {
  if (process.env.MORPHEUS_DEVICE) return process.env.MORPHEUS_DEVICE
  if (cached) return cached
  let machine = ''
  for (const path of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      machine = readFileSync(path, 'utf8').trim()
      if (machine) break
    } catch {
      // try the next
    }
  }
  cached = machine ? `${hostname()}/${createHash('sha256').update(machine).digest('hex').slice(0, 8)}` : hostname()
  return cached
}
