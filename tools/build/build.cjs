#!/usr/bin/env node
// Transpiles apps/, libs/ and tools/ to dist/ with swc (path aliases rewritten to relative
// requires, decorator metadata kept for NestJS). Type checking is `npm run typecheck`.
const fs = require('node:fs');
const path = require('node:path');
const swc = require('@swc/core');
const { root, swcOptions } = require('./swc-options.cjs');

const SOURCE_DIRS = ['apps', 'libs', 'tools'];
const SKIP = /(\.spec|\.int-spec|\.e2e-spec|\.d)\.ts$/;
const out = path.join(root, 'dist');

function* walk(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else if (entry.name.endsWith('.ts') && !SKIP.test(entry.name)) yield full;
  }
}

function* walkAll(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walkAll(full);
    else yield full;
  }
}

async function main() {
  const started = Date.now();
  const files = SOURCE_DIRS.filter((d) => fs.existsSync(path.join(root, d))).flatMap((d) => [
    ...walk(path.join(root, d)),
  ]);
  const options = swcOptions();
  await Promise.all(
    files.map(async (file) => {
      const rel = path.relative(root, file);
      const target = path.join(out, rel.replace(/\.ts$/, '.js'));
      const { code, map } = await swc.transformFile(file, {
        ...options,
        filename: file,
        sourceFileName: path.relative(path.dirname(target), file),
        outputPath: target,
      });
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(
        target,
        map ? `${code}\n//# sourceMappingURL=${path.basename(target)}.map` : code,
      );
      if (map) fs.writeFileSync(`${target}.map`, map);
    }),
  );
  // SQL migrations travel with the code: a service finds them beside its src/ folder.
  for (const d of SOURCE_DIRS.filter((d) => fs.existsSync(path.join(root, d)))) {
    for (const file of walkAll(path.join(root, d))) {
      if (!file.endsWith('.sql')) continue;
      const target = path.join(out, path.relative(root, file));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.copyFileSync(file, target);
    }
  }
  process.stdout.write(`built ${files.length} files into dist/ in ${Date.now() - started} ms\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
