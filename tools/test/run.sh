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
step "unit";      npx jest -c jest.unit.config.cjs --ci
step "integration + e2e (real Kafka, Mosquitto, Redis, PostgreSQL)"
npx jest -c jest.integration.config.cjs --ci
npx jest -c jest.e2e.config.cjs --ci
