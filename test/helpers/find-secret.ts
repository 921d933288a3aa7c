import {gunzipSync} from 'node:zlib'

/** Where `secret` occurs in `text`: plain, base64 at any alignment, or inside any base64 blob (gzipped or not). */
export function findSecret(text: string, secret: string): string[] {
  const found: string[] = []
  if (text.includes(secret)) found.push('plain')
  for (let shift = 0; shift < 3; shift++) {
    // base64 of the secret preceded by `shift` bytes: drop the characters those bytes touch.
    const b64 = Buffer.from('x'.repeat(shift) + secret).toString('base64')
    const core = b64.slice(Math.ceil((shift * 4) / 3), b64.length - 4)
    if (core.length >= 8 && text.includes(core)) found.push(`base64 (offset ${shift})`)
  }
  for (const blob of text.match(/[A-Za-z0-9+/]{16,}={0,2}/g) ?? []) {
    const bytes = Buffer.from(blob, 'base64')
    let decoded = bytes.toString('latin1')
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        decoded = gunzipSync(bytes).toString('latin1')
      } catch {
        // not gzip after all
      }
    }
    if (decoded.includes(secret)) found.push(`in a base64${bytes[0] === 0x1f ? ' gzip' : ''} blob`)
  }
  return found
}
