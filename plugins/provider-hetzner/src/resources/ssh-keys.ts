import {readFileSync} from 'node:fs'

import {resourceName} from '../labels.js'
import {fingerprint} from '../ssh.js'
import type {Cloud} from './cloud.js'

/**
 * The SSH keys servers get: a key already in the project by name (ssh_key), and a local public key
 * file (ssh_public_key_path), uploaded once and found by its fingerprint on every later run.
 */
export class SshKeys {
  /** Names of the keys in the project, as POST /servers takes them. */
  readonly names: string[] = []
  /** The public keys themselves, for the user data. */
  readonly publicKeys: string[] = []
  private ready = false
  private plannedKeys?: Promise<string[]>

  constructor(private readonly cloud: Cloud) {}

  /**
   * The public keys ensure() would put on the nodes, found without creating anything (a dry run uploads no
   * key): the keys already ensured, else the project's key by name and the local public key file.
   */
  planned(): Promise<string[]> {
    if (this.ready) return Promise.resolve(this.publicKeys)
    return (this.plannedKeys ??= this.findPlanned())
  }

  private async findPlanned(): Promise<string[]> {
    const s = this.cloud.settings
    const keys: string[] = []
    if (s.ssh_key) keys.push((await this.projectKey(s.ssh_key, AbortSignal.timeout(s.request_timeout_seconds * 1000))).public_key)
    if (s.ssh_public_key_path) {
      const {publicKey} = this.localKey(s.ssh_public_key_path)
      if (!keys.includes(publicKey)) keys.push(publicKey)
    }
    return keys
  }

  /** The project's key named `name` (providers.hetzner.ssh_key); a missing one is an error. */
  private async projectKey(name: string, signal: AbortSignal): Promise<{name: string; public_key: string}> {
    const found = await this.cloud.hc.call(
      'GET /ssh_keys',
      (api, sig) => api.GET('/ssh_keys', {params: {query: {name}}, signal: sig}),
      signal,
    )
    const key = found.ssh_keys.find((k) => k.name === name)
    if (!key)
      throw this.cloud.context.error(
        'FAILED',
        `no SSH key named "${name}" in the Hetzner project`,
        'Upload it in the Hetzner Console (Security > SSH keys), or set providers.hetzner.ssh_public_key_path to a public key file to upload.',
      )
    return key
  }

  /** The local public key file (providers.hetzner.ssh_public_key_path), read and fingerprinted. */
  private localKey(setting: string): {path: string; publicKey: string; fp: string} {
    const path = this.cloud.context.resolvePath(setting)
    try {
      const publicKey = readFileSync(path, 'utf8').trim()
      return {fp: fingerprint(publicKey), path, publicKey}
    } catch (error) {
      throw this.cloud.context.error(
        'PREREQUISITE',
        `cannot use the SSH public key ${path}: ${(error as Error).message}`,
        'Point providers.hetzner.ssh_public_key_path at a .pub file (ssh-keygen -t ed25519 makes one).',
      )
    }
  }

  async ensure(signal: AbortSignal): Promise<void> {
    if (this.ready) return
    const {context, settings: s} = this.cloud
    if (s.ssh_key) {
      const key = await this.projectKey(s.ssh_key, signal)
      this.names.push(key.name)
      this.publicKeys.push(key.public_key)
    }
    if (s.ssh_public_key_path) {
      const {fp, path, publicKey} = this.localKey(s.ssh_public_key_path)
      const found = await this.cloud.hc.call(
        'GET /ssh_keys',
        (api, sig) => api.GET('/ssh_keys', {params: {query: {fingerprint: fp}}, signal: sig}),
        signal,
      )
      let key = found.ssh_keys.find((k) => k.fingerprint === fp)
      if (!key) {
        const name = resourceName('morpheus', fp.replace(/:/g, '').slice(0, 12))
        const made = await this.cloud.hc.call(
          'POST /ssh_keys',
          (api, sig) => api.POST('/ssh_keys', {body: {labels: {'managed-by': 'morpheus'}, name, public_key: publicKey}, signal: sig}),
          signal,
        )
        key = made.ssh_key
        context.log.info(`uploaded the SSH key ${path} to the Hetzner project as "${name}"`)
      }
      if (!this.names.includes(key.name)) this.names.push(key.name)
      if (!this.publicKeys.includes(key.public_key)) this.publicKeys.push(key.public_key)
    }
    this.ready = true
  }
}
