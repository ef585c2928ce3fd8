#!/usr/bin/env bash
# The README's test command (`npm test`): static checks, then the three tiers. The integration
# and e2e tiers start the real infrastructure themselves (libs/testing: existing servers from
# KAFKA_BROKERS etc., Testcontainers when Docker runs, else tools/stack/stack.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
export TZ=UTC

step() { printf '\n== %s\n' "$*"; }

step "typecheck"; npx tsc -p tsconfig.json
step "lint";      npm run --silent lint
step "format";    npx prettier --check . --log-level warn
step "build";     node tools/build/build.cjs
mkdir -p tmp
rm -f tmp/jest-*.json
step "unit";      npx jest -c jest.unit.config.cjs --ci --json --outputFile=tmp/jest-unit.json
step "integration + e2e (real Kafka, Mosquitto, Redis, PostgreSQL)"
# Both tiers share one infrastructure: started here once (and stopped at the end if this run
# started it), unless servers are given (KAFKA_BROKERS...) or a Docker engine lets the harness
# use Testcontainers.
if [[ -z ${KAFKA_BROKERS:-} ]] && ! docker info >/dev/null 2>&1; then
  if ! bash tools/stack/stack.sh status >/dev/null 2>&1; then
    trap 'bash tools/stack/stack.sh down >/dev/null 2>&1' EXIT
  fi
  bash tools/stack/stack.sh up
  eval "$(bash tools/stack/stack.sh env)"
fi
npx jest -c jest.integration.config.cjs --ci --json --outputFile=tmp/jest-integration.json
npx jest -c jest.e2e.config.cjs --ci --json --outputFile=tmp/jest-e2e.json

# One closing line over the three tiers, in the plain form CI reads.
node -e '
const fs = require("node:fs");
let passed = 0, failed = 0, skipped = 0;
for (const tier of ["unit", "integration", "e2e"]) {
  const r = JSON.parse(fs.readFileSync(`tmp/jest-${tier}.json`, "utf8"));
  passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + r.numTodoTests;
}
console.log(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
'
