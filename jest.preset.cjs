// Shared jest settings: swc transforms with the build's options, aliases from tsconfig.base.json.
const { swcOptions, jestModuleNameMapper } = require('./tools/build/swc-options.cjs');

module.exports = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', { ...swcOptions(), swcrc: false }] },
  moduleNameMapper: jestModuleNameMapper(),
  moduleFileExtensions: ['ts', 'js', 'json'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.stack/'],
};
