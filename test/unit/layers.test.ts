/**
 * The layer rules of docs/architecture.md, checked on every import in src/**: the file's imports are read with the
 * TypeScript parser (static, `export ... from`, dynamic `import()` and `import('x').T` types), so a new import that
 * breaks a rule fails here, naming the file, the import and the rule.
 */
import {readFileSync, readdirSync, statSync} from 'node:fs'
import {dirname, join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import ts from 'typescript'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/**
 * The layers, bottom (0) to top, as docs/architecture.md draws them. A file may import its own layer and the layers
 * below it, never one above. A file in no layer fails the test: a new directory gets its place here and in the doc.
 */
const LAYERS: ReadonlyArray<{rank: number; name: string; paths: readonly string[]}> = [
  {
    name: 'foundation',
    paths: [
      'src/errors.ts',
      'src/fs-errors.ts',
      'src/words.ts',
      'src/net.ts',
      'src/suggest.ts',
      'src/device.ts',
      'src/package-root.ts',
      'src/map-limit.ts',
    ],
    rank: 0,
  },
  {name: 'the plugin contract', paths: ['src/plugin-api/'], rank: 1},
  {name: 'plugin access and config', paths: ['src/plugins/', 'src/config/'], rank: 2},
  // src/jetstream/ is coming (issue 17): talking to a forest's JetStream sits beside the NATS monitoring.
  {name: 'registry, templates, monitoring', paths: ['src/registry/', 'src/templates/', 'src/monitor/', 'src/jetstream/'], rank: 3},
  {name: 'the engine', paths: ['src/forest/', 'src/growth/'], rank: 4},
  // runtime-deps.ts lives in src/forest/ but is the bridge from the Runtime to the engine, so it sits with the Runtime.
  {name: 'the runtime', paths: ['src/runtime.ts', 'src/forest/runtime-deps.ts', 'src/testing/'], rank: 5},
  {name: 'the user interface', paths: ['src/ui/', 'src/autocomplete/'], rank: 6},
  {name: 'commands and oclif hooks', paths: ['src/commands/', 'src/hooks/'], rank: 7},
]

/**
 * Imports allowed to break a rule (none today: issue 16 removed the last ones). Each entry must still be
 * needed: once the import is gone, the test says so and the entry is deleted, so the list only shrinks.
 */
const ALLOWED: ReadonlyArray<{from: string; to: string; why: string}> = []

export interface Import {
  /** The module named in the source, as written. */
  specifier: string
  /** Only types are imported (`import type`, `export type`, every named binding `type`, or `import('x').T`). */
  typeOnly: boolean
  line: number
}

/** Every module a TypeScript source imports or re-exports. */
export function importsOf(file: string, text: string): Import[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const out: Import[] = []
  const add = (specifier: ts.Expression | undefined, typeOnly: boolean, node: ts.Node) => {
    if (specifier && ts.isStringLiteralLike(specifier)) {
      out.push({line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1, specifier: specifier.text, typeOnly})
    }
  }
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : undefined
      const allTypes = Boolean(clause && !clause.name && named && named.length > 0 && named.every((e) => e.isTypeOnly))
      add(node.moduleSpecifier, Boolean(clause?.isTypeOnly) || allTypes, node)
    } else if (ts.isExportDeclaration(node)) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause.elements : undefined
      add(node.moduleSpecifier, node.isTypeOnly || Boolean(named && named.length > 0 && named.every((e) => e.isTypeOnly)), node)
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly, node)
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], false, node)
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal as ts.Expression, true, node)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return out
}

function layerOf(file: string) {
  // The longest matching path wins: src/forest/runtime-deps.ts is in the runtime layer, the rest of src/forest/ is not.
  let best: {layer: (typeof LAYERS)[number]; length: number} | undefined
  for (const layer of LAYERS) {
    for (const p of layer.paths) {
      if ((p.endsWith('/') ? file.startsWith(p) : file === p) && p.length > (best?.length ?? -1)) best = {layer, length: p.length}
    }
  }
  return best?.layer
}

const PLUGIN_PACKAGES = /^@morpheus\/(provider|registry)-/

export interface Violation {
  from: string
  to: string
  line: number
  rule: string
}

/** Every broken rule in a tree of sources (paths relative to the repository, `src/...`). */
export function violations(files: ReadonlyMap<string, string>): Violation[] {
  const found: Violation[] = []
  for (const [from, text] of files) {
    const fromLayer = layerOf(from)
    if (!fromLayer) {
      found.push({from, line: 0, rule: 'the file is in no layer: give it one in test/unit/layers.test.ts and docs/architecture.md', to: ''})
      continue
    }
    for (const imp of importsOf(from, text)) {
      const relativeSpec = imp.specifier.startsWith('.')
      const to = relativeSpec ? relative(ROOT, resolve(ROOT, dirname(from), imp.specifier)).replace(/\.js$/, '.ts') : imp.specifier
      const broke = (rule: string) => found.push({from, line: imp.line, rule, to})
      if (from === 'src/errors.ts') broke('src/errors.ts imports nothing (every module may use MorpheusError)')
      if (to.startsWith('plugins/') || PLUGIN_PACKAGES.test(imp.specifier)) {
        broke('the core never imports a plugin (it reaches plugins through oclif hooks)')
        continue
      }
      if (from.startsWith('src/plugin-api/') && !imp.typeOnly) broke('src/plugin-api imports only types (it is the published contract)')
      if (!relativeSpec) continue
      if (!to.startsWith('src/')) {
        broke('src imports nothing outside src but packages')
        continue
      }
      if (from.startsWith('src/commands/') && to.startsWith('src/commands/')) {
        broke('a command never imports a command (shared code goes in a module below the commands)')
        continue
      }
      const toLayer = layerOf(to)
      if (!toLayer) continue // reported once, as the imported file itself
      if (fromLayer.rank === 4 && /^src\/(commands|ui)\/|^src\/runtime\.ts$/.test(to)) {
        broke('the engine never imports a command, src/ui or the Runtime: it gets everything through ForestDeps')
        continue
      }
      if (toLayer.rank > fromLayer.rank) broke(`${fromLayer.name} may not import ${toLayer.name}, a layer above it`)
    }
  }
  return found
}

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = `${dir}/${name}`
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path)
    return /\.(ts|js|mjs)$/.test(name) && !name.endsWith('.d.ts') ? [path] : []
  })
}

const show = (v: Violation) => `${v.from}${v.line ? `:${v.line}` : ''}${v.to ? ` imports ${v.to}` : ''}: ${v.rule}`

describe('layers (docs/architecture.md)', () => {
  const tree = new Map(sources('src').map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]))

  test('src has the files the rules are about (the walk found the tree)', () => {
    expect(tree.size).toBeGreaterThan(50)
    for (const f of ['src/errors.ts', 'src/runtime.ts', 'src/forest/plant.ts', 'src/commands/plant.ts', 'src/plugin-api/index.ts'])
      expect(tree.has(f)).toBe(true)
  })

  test('no import in src breaks a layer rule, but the ones on the allow-list', () => {
    const isAllowed = (v: Violation) => ALLOWED.some((a) => a.from === v.from && a.to === v.to)
    expect(
      violations(tree)
        .filter((v) => !isAllowed(v))
        .map(show),
    ).toEqual([])
  })

  test('every allow-list entry is still needed (delete the ones whose import is gone)', () => {
    const current = violations(tree)
    const stale = ALLOWED.filter((a) => !current.some((v) => v.from === a.from && v.to === a.to))
    expect(stale.map((a) => `${a.from} -> ${a.to} (${a.why})`)).toEqual([])
  })
})

describe('the layer check itself (a rule it cannot see would pass anything)', () => {
  const check = (files: Record<string, string>) => violations(new Map(Object.entries(files))).map(show)

  test('each rule fails on a planted import', () => {
    expect(check({'src/commands/grow.ts': "import {x} from './plant.js'"})).toEqual([
      'src/commands/grow.ts:1 imports src/commands/plant.ts: a command never imports a command (shared code goes in a module below the commands)',
    ])
    expect(check({'src/forest/plant.ts': "import type {Runtime} from '../runtime.js'"})).toEqual([
      'src/forest/plant.ts:1 imports src/runtime.ts: the engine never imports a command, src/ui or the Runtime: it gets everything through ForestDeps',
    ])
    expect(check({'src/growth/x.ts': "\nconst m = await import('../ui/table.js')"})).toEqual([
      'src/growth/x.ts:2 imports src/ui/table.ts: the engine never imports a command, src/ui or the Runtime: it gets everything through ForestDeps',
    ])
    expect(check({'src/registry/store.ts': "import {a} from '../../plugins/registry-none/src/file-registry.js'"})).toEqual([
      'src/registry/store.ts:1 imports plugins/registry-none/src/file-registry.ts: the core never imports a plugin (it reaches plugins through oclif hooks)',
    ])
    expect(check({'src/runtime.ts': "import '@morpheus/registry-s3'"})).toEqual([
      'src/runtime.ts:1 imports @morpheus/registry-s3: the core never imports a plugin (it reaches plugins through oclif hooks)',
    ])
    expect(check({'src/errors.ts': "import {x} from './words.js'"})).toEqual([
      'src/errors.ts:1 imports src/words.ts: src/errors.ts imports nothing (every module may use MorpheusError)',
    ])
    expect(check({'src/plugin-api/index.ts': "import {a, type B} from '../words.js'\nexport {c} from './other.js'"})).toEqual([
      'src/plugin-api/index.ts:1 imports src/words.ts: src/plugin-api imports only types (it is the published contract)',
      'src/plugin-api/index.ts:2 imports src/plugin-api/other.ts: src/plugin-api imports only types (it is the published contract)',
    ])
    expect(check({'src/registry/x.ts': "type T = import('../forest/deps.js').ForestDeps"})).toEqual([
      'src/registry/x.ts:1 imports src/forest/deps.ts: registry, templates, monitoring may not import the engine, a layer above it',
    ])
    expect(check({'src/newdir/x.ts': ''})).toEqual([
      'src/newdir/x.ts: the file is in no layer: give it one in test/unit/layers.test.ts and docs/architecture.md',
    ])
  })

  test('what the rules allow passes: downwards, type-only in the contract, the bridge, a layer importing itself', () => {
    expect(
      check({
        'src/commands/plant.ts': "import {plantForest} from '../forest/plant.js'\nimport {x} from '../ui/table.js'",
        'src/forest/runtime-deps.ts': "import type {Runtime} from '../runtime.js'",
        'src/growth/expand.ts': "import {a} from '../forest/batch.js'",
        'src/plugin-api/index.ts': "import type {A} from './a.js'\nimport {type B, type C} from './b.js'\nexport type {D} from './d.js'",
        'src/errors.ts': 'export class MorpheusError extends Error {}',
        'src/ui/base-command.ts': "import {Runtime} from '../runtime.js'",
      }),
    ).toEqual([])
  })
})
