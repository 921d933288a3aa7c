// ESLint (flat config) with typescript-eslint: typed rules for the TypeScript (tsconfig.test.json covers src, tests and
// plugins), the plain rules for the JavaScript (bin, scripts, bench, fixtures). Formatting is Prettier's (.prettierrc.json);
// README's "Lint and format" says why each rule below is off or changed.
import js from '@eslint/js'
import {defineConfig} from 'eslint/config'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default defineConfig(
  {
    // What .gitignore leaves out (built, packed, the benchmarks' compiled fixtures in .tmp), and the generated API types.
    ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', '.tmp/**', 'release/**', 'plugins/provider-hetzner/src/api/hcloud.d.ts'],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname},
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', {considerDefaultExhaustiveForUnions: true}],
      eqeqeq: ['error', 'always', {null: 'ignore'}],
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
    },
  },
  {
    // Tests and their fixtures read untyped JSON (the CLI's output, simulators' bodies) and feed deliberately wrong input.
    files: ['test/**/*.ts', 'plugins/*/test/**/*.ts', 'examples/*/test/**/*.ts'],
    rules: {'@typescript-eslint/no-explicit-any': 'off'},
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: {globals: {...globals.node}},
  },
  {
    // CommonJS on purpose (a fixture run as a plain node script): require() is how it imports.
    files: ['**/*.cjs'],
    rules: {'@typescript-eslint/no-require-imports': 'off'},
  },
)
