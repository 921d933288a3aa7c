import {createHash} from 'node:crypto'

/** Hetzner's SSH key fingerprint: MD5 of the key's decoded body, as colon-separated hex. */
export function fingerprint(publicKey: string): string {
  const parts = publicKey.trim().split(/\s+/)
  if (parts.length < 2 || !/^(ssh-|ecdsa-|sk-)/.test(parts[0]))
    throw new Error('not an OpenSSH public key (expected "ssh-ed25519 AAAA... comment")')
  const body = Buffer.from(parts[1], 'base64')
  if (body.length < 16) throw new Error('the key body is too short to be a public key')
  return createHash('md5').update(body).digest('hex').match(/../g)!.join(':')
}
