import {readdirSync, readFileSync, statSync} from 'node:fs'
import {packageRoot} from '../package-root.js'
import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'
import {join, relative, sep} from 'node:path'

import {MorpheusError} from '../errors.js'
import type {TemplateRenderer} from '../plugin-api/index.js'
import {bootstrapSettings, bootstrapVersions, pinnedBootstrap, type BootstrapSettings} from './bootstrap.js'
import {registerHelpers} from './helpers.js'
import {natsConfigData} from './nats.js'
import {checkUserDataSize, userDataView} from './userdata.js'

/** Handlebars is CommonJS: required synchronously, on first use (see createRenderer). */
const requireCjs = createRequire(import.meta.url)

/** The templates/ directory shipped with the core (next to dist/). */
export const TEMPLATES_DIR = join(packageRoot(fileURLToPath(import.meta.url)), 'templates') + sep

export interface RendererOptions {
  /**
   * Template directories, searched in order: the user's `templates.dir`, then a plugin's own
   * directory, then the core's. The core's templates/ is always searched last, whether listed or
   * not. Partials come from `<dir>/partials/**.hbs` of every directory; an earlier directory wins.
   */
  dirs?: readonly string[]
  /**
   * What userData() adds from the config (integration.*) and the registry backend (its node access). A function is
   * called at the first userData() only, so a config problem there (an unset ${ENV}, an unreadable
   * TLS file) stops only the commands that render user data. Default: the defaults.
   */
  bootstrap?: BootstrapSettings | (() => BootstrapSettings)
}

/** Every `.hbs` file under dir, as names relative to it without `.hbs` ('cloud-init/embedded'). */
function walk(dir: string, skip?: string): string[] {
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch {
    return []
  }
  const out: string[] = []
  for (const entry of entries) {
    const full = join(dir, entry)
    if (full === skip) continue
    let isDir: boolean
    try {
      isDir = statSync(full).isDirectory()
    } catch {
      continue
    }
    if (isDir) out.push(...walk(full, skip).map((n) => `${entry}/${n}`))
    else if (entry.endsWith('.hbs')) out.push(entry.slice(0, -4))
  }
  return out
}

/**
 * Handlebars' strict mode checks `{{name}}` but not the arguments of helpers (`{{yaml name}}`,
 * `{{#if name}}`): mark those paths strict too, so a missing variable is an error wherever it is.
 * (`this` and `@data` paths are left alone.)
 */
function strictParams(node: unknown): void {
  if (!node || typeof node !== 'object') return
  if (Array.isArray(node)) return node.forEach(strictParams)
  const n = node as {params?: unknown[]; hash?: {pairs?: Array<{value: unknown}>}}
  const mark = (p: unknown) => {
    const path = p as {type?: unknown; data?: unknown; parts: unknown[]; strict?: boolean} | null | undefined
    if (path?.type === 'PathExpression' && !path.data && path.parts.length > 0) path.strict = true
  }
  n.params?.forEach(mark)
  n.hash?.pairs?.forEach((pair) => mark(pair.value))
  for (const value of Object.values(n)) if (value && typeof value === 'object') strictParams(value)
}

function strictAst(hb: typeof import('handlebars'), source: string): hbs.AST.Program {
  const ast = hb.parse(source)
  strictParams(ast)
  return ast
}

/**
 * Handlebars with the core's helpers (helpers.ts: one escaping helper per context) and every
 * partial registered. Strict: a variable a template uses but the data lacks is an error.
 *
 * Handlebars is loaded, and the partials compiled, at the first render, not here: every plugin
 * context gets a renderer, and most commands (list, status, config) never render anything, while
 * loading Handlebars costs about 30 ms of start-up.
 */
export async function createRenderer(options: RendererOptions = {}): Promise<TemplateRenderer> {
  const dirs = [...new Set([...(options.dirs ?? []), TEMPLATES_DIR].map((d) => (d.endsWith(sep) ? d : d + sep)))]
  let handlebars: typeof import('handlebars') | undefined
  const engine = (): typeof import('handlebars') => {
    if (handlebars) return handlebars
    const hb = (requireCjs('handlebars') as typeof import('handlebars')).create()
    registerHelpers(hb)
    // Register the last directory first, so an earlier directory's partial of the same name wins.
    for (const dir of [...dirs].reverse()) {
      const partials = join(dir, 'partials')
      for (const name of walk(partials)) {
        hb.registerPartial(
          name,
          hb.compile(strictAst(hb, readFileSync(join(partials, `${name}.hbs`), 'utf8')), {noEscape: true, strict: true}),
        )
      }
    }
    handlebars = hb
    return hb
  }
  let settings: BootstrapSettings | undefined
  const bootstrap = (): BootstrapSettings => {
    settings ??= typeof options.bootstrap === 'function' ? options.bootstrap() : (options.bootstrap ?? bootstrapSettings())
    return settings
  }
  const cache = new Map<string, HandlebarsTemplateDelegate>()
  const renderer: TemplateRenderer = {
    natsConfig: (input) => renderer.render('nats.conf', natsConfigData(input)),
    defaultVersions: (natsMode) => bootstrapVersions(bootstrap(), natsMode),
    userData(input) {
      const view = userDataView(input, pinnedBootstrap(bootstrap(), input.versions), renderer)
      return checkUserDataSize(renderer.render(`cloud-init/${input.natsMode}`, view), input.node.id)
    },
    list: () => [...new Set(dirs.flatMap((d) => walk(d, join(d, 'partials'))))].sort(),
    render(name, data) {
      let template = cache.get(name)
      if (!template) {
        const dir = dirs.find((d) => {
          try {
            return statSync(join(d, `${name}.hbs`)).isFile()
          } catch {
            return false
          }
        })
        if (!dir || relative(dir, join(dir, `${name}.hbs`)).startsWith('..')) {
          const where = dirs.length === 1 ? dirs[0] : dirs.join(', ')
          throw new MorpheusError('UNEXPECTED', `template "${name}" is missing from ${where}`)
        }
        const hb = engine()
        template = hb.compile(strictAst(hb, readFileSync(join(dir, `${name}.hbs`), 'utf8')), {noEscape: true, strict: true})
        cache.set(name, template)
      }
      try {
        return template(data)
      } catch (error) {
        if (error instanceof MorpheusError) throw error
        throw new MorpheusError('UNEXPECTED', `template "${name}": ${(error as Error).message}`, {cause: error})
      }
    },
  }
  return renderer
}
