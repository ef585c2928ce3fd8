// Integration tier: one service or library against real Kafka, Mosquitto, Redis and PostgreSQL,
// started once for the run by the testing lib's global setup.
module.exports = {
  ...require('./jest.preset.cjs'),
  displayName: 'integration',
  testMatch: ['<rootDir>/{apps,libs,tools}/**/*.int-spec.ts'],
  globalSetup: '<rootDir>/libs/testing/src/global-setup.ts',
  globalTeardown: '<rootDir>/libs/testing/src/global-teardown.ts',
  testTimeout: 120_000,
  maxWorkers: 1,
};
