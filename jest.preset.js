/**
 * Settings shared by every package's jest project.
 * Tests import other packages by name; the mapper points those imports at the TypeScript
 * sources so a test always sees the code beside it. Code that starts worker threads loads
 * the built `dist/` files, which the root globalSetup keeps current.
 */
const path = require('node:path');

module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/src/**/*.test.ts'],
  transform: {
    '^.+\\.(t|j)s$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } },
    ],
  },
  moduleNameMapper: {
    '^@scrl/testing$': path.join(__dirname, 'tools/testing/index.ts'),
    '^@scrl/roi-align/boxes$': path.join(__dirname, 'packages/roi-align/src/boxes/box-array.ts'),
    '^@scrl/roi-align/wasm$': path.join(__dirname, 'packages/roi-align/src/runtime/wasm.ts'),
    '^@scrl/([a-z-]+)$': path.join(__dirname, 'packages/$1/src/index.ts'),
  },
};
