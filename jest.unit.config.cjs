// Unit tier: pure logic, no I/O, `*.spec.ts` beside the code.
module.exports = {
  ...require('./jest.preset.cjs'),
  displayName: 'unit',
  testMatch: ['<rootDir>/{apps,libs,tools}/**/*.spec.ts'],
};
