import {readdirSync, readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {join} from 'node:path'

import {MorpheusError} from '../errors.js'
import {urlHost} from '../net.js'
import type {TemplateRenderer} from '../plugin-api/index.js'
import {natsConfigData} from './nats.js'

/** The templates/ directory shipped with the core (next to dist/). */
export const TEMPLATES_DIR = fileURLToPath(new URL('../../templates/', import.meta.url))

function hostPort(host: string, port: number): string {
  return `${urlHost(host)}:${port}`
}

/** Handlebars with the core's helpers and every `templates/partials/*.hbs` registered. */
export async function createRenderer(dir = TEMPLATES_DIR): Promise<TemplateRenderer> {
  const {default: Handlebars} = await import('handlebars')
  const hb = Handlebars.create()
  hb.registerHelper('json', (value: unknown) => JSON.stringify(value ?? null))
  hb.registerHelper('hostport', (host: string, port: number) => hostPort(host, port))
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b)
  hb.registerHelper('indent', (spaces: number, text: string) => String(text).split('\n').map((l) => (l ? ' '.repeat(spaces) + l : l)).join('\n'))
  let partials: string[] = []
  try {
    partials = readdirSync(join(dir, 'partials')).filter((f) => f.endsWith('.hbs'))
  } catch {
    partials = []
  }
  for (const file of partials) hb.registerPartial(file.slice(0, -4), readFileSync(join(dir, 'partials', file), 'utf8'))
  const cache = new Map<string, HandlebarsTemplateDelegate>()
  const renderer: TemplateRenderer = {
    natsConfig: (input) => renderer.render('nats.conf', natsConfigData(input)),
    list: () => readdirSync(dir).filter((f) => f.endsWith('.hbs')).map((f) => f.slice(0, -4)).sort(),
    render(name, data) {
      let template = cache.get(name)
      if (!template) {
        let source: string
        try {
          source = readFileSync(join(dir, `${name}.hbs`), 'utf8')
        } catch {
          throw new MorpheusError('UNEXPECTED', `template "${name}" is missing from ${dir}`)
        }
        template = hb.compile(source, {noEscape: true, strict: true})
        cache.set(name, template)
      }
      return template(data)
    },
  }
  return renderer
}
