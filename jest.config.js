/**
 * Jest runs as native ESM (see TOOLCHAIN.md): Nest 12 is ESM-only and Node 20 cannot require() it.
 * Three projects share one config: unit specs beside the code (no database), integration tests
 * and HTTP end-to-end tests (each test file gets its own fresh PostgreSQL database).
 */
// The suite runs nine hours east of UTC: a time the code reads in the server's zone instead of in
// UTC (the API's times are all UTC) then fails a test, where a machine on UTC would hide it. Set
// here, before Jest starts its workers, which inherit it.
process.env.TZ = 'Asia/Tokyo';

const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
      keepClassNames: true,
      target: 'es2022',
    },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  },
];

const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': swc },
  testEnvironment: 'node',
};

export default {
  maxWorkers: 2,
  testTimeout: 30000,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: [
        '<rootDir>/test/integration/**/*.test.ts',
        '<rootDir>/test/e2e/**/*.test.ts',
        '<rootDir>/test/examples/**/*.test.ts',
        '<rootDir>/test/crash/**/*.test.ts',
      ],
      testTimeout: 30000,
    },
  ],
};
