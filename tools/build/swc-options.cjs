// One place for how TypeScript becomes JavaScript: the build and jest both use it, and the path
// aliases come from tsconfig.base.json so they are declared once.
const path = require('node:path');
const root = path.resolve(__dirname, '../..');
const { compilerOptions } = require(path.join(root, 'tsconfig.base.json'));

function swcOptions() {
  return {
    sourceMaps: true,
    module: { type: 'commonjs' },
    jsc: {
      target: 'es2022',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
      keepClassNames: true,
      baseUrl: root,
      paths: compilerOptions.paths,
    },
  };
}

/** jest moduleNameMapper equivalent of the tsconfig paths. */
function jestModuleNameMapper() {
  return Object.fromEntries(
    Object.entries(compilerOptions.paths).map(([alias, [target]]) => [
      `^${alias.replace('/', '\\/')}$`,
      path.join('<rootDir>', target),
    ]),
  );
}

module.exports = { root, swcOptions, jestModuleNameMapper };
