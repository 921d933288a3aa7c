/**
 * Escaping for every context a rendered value can land in. Each function turns any string into
 * text that, in its context, means exactly that string and nothing more: no quote, newline,
 * comment sign, brace or `$(...)` in a value can end the value or start something else.
 * The template helpers (helpers.ts) are thin wrappers around these.
 */
import {MorpheusError} from '../errors.js'

const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, '0')

function text(value: unknown, context: string): string {
  if (value === null || value === undefined) throw new MorpheusError('UNEXPECTED', `a ${context} value is missing (null or undefined)`)
  if (typeof value === 'object') throw new MorpheusError('UNEXPECTED', `a ${context} value must be a string or number, got an object`)
  return String(value)
}

/**
 * A YAML double-quoted scalar. Only printable ASCII stays as it is; `"` and `\` are escaped,
 * everything else (control characters, line breaks, every non-ASCII character) becomes a
 * `\x`, `\u` or `\U` escape, so YAML 1.1 (PyYAML, what cloud-init reads) and 1.2 agree.
 */
export function yamlQuote(value: unknown): string {
  let out = '"'
  for (const ch of text(value, 'YAML')) {
    const c = ch.codePointAt(0)!
    if (ch === '"' || ch === '\\') out += `\\${ch}`
    else if (c >= 0x20 && c < 0x7f) out += ch
    else if (c === 0x0a) out += '\\n'
    else if (c === 0x09) out += '\\t'
    else if (c < 0x100) out += `\\x${hex(c, 2)}`
    else if (c < 0x10000) out += `\\u${hex(c, 4)}`
    else out += `\\U${hex(c, 8)}`
  }
  return `${out}"`
}

/** Characters a YAML literal block may hold as they are (tab, line feed, printable ASCII). */
const BLOCK_SAFE = /^[\t\n\x20-\x7e]*$/

/**
 * The text of a file as the value of a YAML key at column `keyColumn`: a literal block (`|2`,
 * with the chomping indicator that keeps the trailing newlines exactly) indented two columns past
 * the key, so the file reads naturally in the user data. Text a literal block cannot carry
 * (control or non-ASCII characters) falls back to a double-quoted scalar, which can carry anything.
 * The result does not end with a line break: use it at the end of a template line.
 */
export function yamlBlock(value: unknown, keyColumn: number): string {
  const body = text(value, 'YAML block')
  const trailing = /\n*$/.exec(body)![0].length
  // A literal block cannot hold only line breaks, nor characters outside BLOCK_SAFE.
  if (!BLOCK_SAFE.test(body) || trailing === body.length) return yamlQuote(body)
  const chomp = trailing === 0 ? '-' : trailing === 1 ? '' : '+'
  const pad = ' '.repeat(keyColumn + 2)
  const lines = body
    .slice(0, body.length - trailing)
    .split('\n')
    .map((l) => (l === '' ? '' : pad + l))
  // No final line break: the template's own line break after the helper ends the last line.
  return `|2${chomp}\n${lines.join('\n')}${'\n'.repeat(Math.max(trailing - 1, 0))}`
}

/**
 * A POSIX shell word in single quotes: nothing inside is expanded; a `'` in the value closes the
 * quote, adds an escaped quote and reopens it. NUL cannot be passed to a program at all.
 */
export function shQuote(value: unknown): string {
  const s = text(value, 'shell')
  if (s.includes('\0'))
    throw new MorpheusError('CONFIG', 'a value for a shell script contains a NUL character', {hint: 'Remove it from the config value.'})
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/**
 * JSON text of any value, with every non-ASCII character escaped (`\uXXXX`), so the text is
 * pure printable ASCII and safe inside a YAML literal block too.
 */
export function jsonText(value: unknown, indent?: number): string {
  const s = JSON.stringify(value ?? null, null, indent)
  return s.replace(/[\u007f-\uffff]/g, (c) => `\\u${hex(c.charCodeAt(0), 4).toLowerCase()}`)
}

/**
 * A nats.conf quoted string. nats-server accepts only `\xXX`, `\t`, `\n`, `\r`, `\"` and `\\` in
 * quoted strings (a `\u` escape is a parse error) and expands no `$VAR` inside quotes; every byte
 * outside printable ASCII becomes `\xXX` (of its UTF-8 encoding).
 */
export function natsQuote(value: unknown): string {
  let out = '"'
  for (const byte of Buffer.from(text(value, 'nats.conf'), 'utf8')) {
    if (byte === 0x22) out += '\\"'
    else if (byte === 0x5c) out += '\\\\'
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte)
    else if (byte === 0x0a) out += '\\n'
    else if (byte === 0x09) out += '\\t'
    else if (byte === 0x0d) out += '\\r'
    else out += `\\x${hex(byte, 2)}`
  }
  return `${out}"`
}

/**
 * One double-quoted word of a systemd unit setting (Environment=, ExecStart= arguments, What=).
 * systemd unquotes and C-unescapes such words and expands `%` specifiers in them; `$` is expanded
 * in ExecStart= only, so `dollar: true` doubles it there. Control and non-ASCII bytes become
 * `\xXX`, so a value can neither end the line nor the word.
 */
export function systemdQuote(value: unknown, options: {dollar?: boolean} = {}): string {
  let out = '"'
  for (const byte of Buffer.from(text(value, 'systemd'), 'utf8')) {
    if (byte === 0x22) out += '\\"'
    else if (byte === 0x5c) out += '\\\\'
    else if (byte === 0x25) out += '%%'
    else if (byte === 0x24 && options.dollar) out += '$$'
    else if (byte === 0x27) out += "\\'"
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte)
    else out += `\\x${hex(byte, 2).toLowerCase()}`
  }
  return `${out}"`
}
