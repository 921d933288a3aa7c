/** Jest in ESM mode with ts-jest (see the README: NODE_OPTIONS=--experimental-vm-modules). */
export default {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^morpheus/plugin-api$': '<rootDir>/src/plugin-api/index.ts',
    '^morpheus/testing$': '<rootDir>/src/testing/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  setupFiles: ['<rootDir>/test/setup.ts'],
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/plugins/*/test/**/*.test.ts', '<rootDir>/examples/*/test/**/*.test.ts'],
  testTimeout: 60000,
  transform: {
    '^.+\\.ts$': ['ts-jest', {tsconfig: 'tsconfig.test.json', useESM: true}],
  },
  maxWorkers: 2,
}
