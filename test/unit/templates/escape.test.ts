import {existsSync} from 'node:fs'
import {spawn} from 'node:child_process'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {jsonText, natsQuote, shQuote, systemdQuote, yamlBlock, yamlQuote} from '../../../src/templates/escape.js'
import {bash, HOSTILE, natsServerCheck, pyYaml, removeScratch, scratchFile, systemdVerify} from './tools.js'
import {freePort} from '../../helpers/nats.js'

afterAll(removeScratch)

describe('YAML', () => {
  test('yamlQuote: PyYAML reads back exactly the value, for every hostile value, as keys and list items too', () => {
    const doc = HOSTILE.map((v, i) => `k${i}: ${yamlQuote(v)}\nl${i}:\n  - ${yamlQuote(v)}\n${yamlQuote(v)}: ${i}`).join('\n')
    const parsed = pyYaml(doc)
    HOSTILE.forEach((v, i) => {
      expect(parsed[`k${i}`]).toBe(v)
      expect(parsed[`l${i}`]).toEqual([v])
      expect(parsed[v]).toBe(i)
    })
    expect(Object.keys(parsed)).toHaveLength(HOSTILE.length * 3)
  })

  test('yamlBlock: file text with any trailing newlines round-trips, as a literal block when it can be one', () => {
    const texts = [
      'one line\n',
      'no newline',
      'two\nlines\n\n',
      '  indented first line\nthen # not a comment\n---\n...\n',
      'key: "value"\n- item\n{{x}}\n',
      '\n\nleading blank lines\n',
      ...HOSTILE.map((v) => `${v}\n`),
    ]
    for (const column of [0, 4]) {
      const pad = ' '.repeat(column)
      const doc = `list:\n${texts.map((t, i) => `${pad}- path: f${i}\n${pad}  content: ${yamlBlock(t, column + 2)}\n${pad}  after: ${i}`).join('\n')}\n`
      const parsed = pyYaml(doc)
      expect(parsed.list.map((f: any) => f.content)).toEqual(texts)
      expect(parsed.list.map((f: any) => f.after)).toEqual(texts.map((_, i) => i))
    }
    expect(yamlBlock('a\nb\n', 4)).toBe('|2\n      a\n      b')
    expect(yamlBlock('\u0001x\n', 4)).toBe('"\\x01x\\n"')
  })
})

describe('shell', () => {
  test('shQuote: bash gets exactly the value as one word, and nothing in it runs', () => {
    const marker = join(tmpdir(), 'morpheus-pwned')
    const values = HOSTILE.filter((v) => !v.includes('\0'))
    const code = values.map((v) => `printf '%s\\0' ${shQuote(v)}`).join('\n')
    const r = bash(code.replaceAll('/tmp/morpheus-pwned', marker))
    expect(r.stderr).toBe('')
    expect(r.stdout.split('\0').slice(0, -1)).toEqual(values.map((v) => v.replaceAll('/tmp/morpheus-pwned', marker)))
    expect(existsSync(marker)).toBe(false)
    // in a bash array too (how the bootstrap script lists addresses)
    const arr = bash(`A=(${values.map(shQuote).join(' ')}); printf '%s\\0' "\${A[@]}"; echo -n "\${#A[@]}"`)
    expect(arr.stdout.split('\0').slice(0, -1)).toEqual(values)
    expect(arr.stdout.split('\0').at(-1)).toBe(String(values.length))
  })

  test('shQuote refuses NUL (no program argument can carry it)', () => {
    expect(() => shQuote('a\0b')).toThrow(/NUL/)
  })
})

describe('JSON', () => {
  test('jsonText: parses back to the value and is printable ASCII only', () => {
    const value = {list: HOSTILE, nested: {[HOSTILE[5]]: HOSTILE[19]}}
    for (const indent of [undefined, 2]) {
      const text = jsonText(value, indent)
      expect(JSON.parse(text)).toEqual(value)
      expect(text).toMatch(/^[\n\x20-\x7e]*$/)
    }
  })
})

describe('nats.conf', () => {
  test('natsQuote: nats-server accepts every hostile value as a quoted string', () => {
    const conf = HOSTILE.map((v, i) => `# ${i}\nserver_tags: [${natsQuote(v)}]`).join('\n')
    // one value per file: a later server_tags would override the earlier ones
    for (const v of HOSTILE) {
      const check = natsServerCheck(`server_name: "x"\nserver_tags: [${natsQuote(v)}]\nlisten: "127.0.60.1:4222"\n`)
      expect(check.output).toContain('is valid')
    }
    expect(natsServerCheck(conf).ok).toBe(true)
    expect(natsQuote('a"b\\c\n')).toBe('"a\\"b\\\\c\\n"')
    expect(natsQuote('é')).toBe('"\\xC3\\xA9"')
  })

  test('natsQuote: a running nats-server reports exactly the value as its server_name', async () => {
    const value = `it's "a" #name, with } ] {{x}} $(id) $HOME \\n\ttab ünï 🌲`
    const port = await freePort('127.0.60.2')
    const mon = await freePort('127.0.60.2')
    const file = scratchFile('named.conf', `server_name: ${natsQuote(value)}\nlisten: "127.0.60.2:${port}"\nhttp: "127.0.60.2:${mon}"\n`)
    const child = spawn('nats-server', ['-c', file], {stdio: 'ignore'})
    try {
      let varz: any
      for (let i = 0; i < 100 && !varz; i++) {
        await new Promise((r) => setTimeout(r, 100))
        varz = await fetch(`http://127.0.60.2:${mon}/varz`)
          .then((r) => r.json())
          .catch(() => undefined)
      }
      expect(varz.server_name).toBe(value)
    } finally {
      child.kill('SIGTERM')
    }
  })
})

/** systemd's unquoting of one double-quoted word (extract_first_word with CUNESCAPE, then specifiers). */
function systemdUnquote(word: string, dollar = false): string {
  expect(word.startsWith('"') && word.endsWith('"')).toBe(true)
  const inner = word.slice(1, -1)
  const bytes: number[] = []
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i]
    if (c === '"') throw new Error(`unescaped quote in ${word}`)
    if (c === '\n') throw new Error(`line break in ${word}`)
    if (c === '\\') {
      const n = inner[++i]
      if (n === 'x') {
        bytes.push(parseInt(inner.slice(i + 1, i + 3), 16))
        i += 2
      } else if (n === '\\' || n === '"' || n === "'") bytes.push(n.charCodeAt(0))
      else throw new Error(`unexpected escape \\${n}`)
    } else if (c === '%') {
      if (inner[++i] !== '%') throw new Error(`specifier %${inner[i]} in ${word}`)
      bytes.push(0x25)
    } else if (c === '$' && dollar) {
      if (inner[++i] !== '$') throw new Error(`variable in ${word}`)
      bytes.push(0x24)
    } else bytes.push(...Buffer.from(c, 'utf8'))
  }
  return Buffer.from(bytes).toString('utf8')
}

describe('systemd', () => {
  test('systemdQuote: systemd-analyze parses every hostile Environment= and ExecStart= word without a complaint', () => {
    const values = HOSTILE.filter((v) => v !== '')
    const unit = [
      '[Unit]',
      'Description=escaping test',
      '[Service]',
      ...values.map((v) => `Environment=${systemdQuote(`V=${v}`)}`),
      `ExecStart=/bin/echo ${values.map((v) => systemdQuote(v, {dollar: true})).join(' ')}`,
      '',
    ].join('\n')
    expect(unit.split('\n')).toHaveLength(values.length + 5)
    expect(systemdVerify(unit)).not.toMatch(/Invalid|Failed|ignoring|Unknown|rror/)
    // the control: an unescaped value is reported
    expect(systemdVerify('[Service]\nEnvironment="V=a"b" "%Z"\nExecStart=/bin/true\n')).toMatch(/ignoring/)
  })

  test('systemdQuote: unquoting by systemd rules gives the value back', () => {
    for (const v of HOSTILE) {
      expect(systemdUnquote(systemdQuote(v))).toBe(v)
      expect(systemdUnquote(systemdQuote(v, {dollar: true}), true)).toBe(v)
    }
    expect(systemdQuote('a%b$c"d')).toBe('"a%%b$c\\"d"')
    expect(systemdQuote('$x', {dollar: true})).toBe('"$$x"')
  })
})
