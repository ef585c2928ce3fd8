#!/usr/bin/env bash
# `npm start`: the whole platform from nothing, with a simulated fleet and a scripted carrier
# outage, and a live view of readings, coverage events and swaps. Ctrl-C (or the end of the
# scenario) stops the simulator, the services and the infrastructure.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SCENARIO=${SCENARIO:-tools/meter-sim/scenarios/demo.json}
DURATION_S=${DURATION_S:-}            # real seconds; default: the scenario's own length
LOGS=$ROOT/tmp/demo
mkdir -p "$LOGS"
pids=()

say() { printf '\n>> %s\n' "$*"; }
cleanup() {
  trap - EXIT INT TERM
  say "stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ ${KEEP_STACK:-0} != 1 ]]; then bash tools/stack/stack.sh down; fi
  say "stopped; service logs are in $LOGS"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "infrastructure (Kafka, Mosquitto, Redis, PostgreSQL)"
bash tools/stack/stack.sh up
eval "$(bash tools/stack/stack.sh env)"

say "build"
node tools/build/build.cjs

# Operator API token and eIM key for this local platform (kept under .stack/, never printed).
mkdir -p .stack/demo && chmod 700 .stack/demo
[[ -f .stack/demo/api-token ]] || (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > .stack/demo/api-token)
TOKEN=$(cat .stack/demo/api-token)
export REGISTRY_API_TOKENS="$TOKEN:admin" EIM_KEY_FILE=$ROOT/.stack/demo/eim-key.json LOG_LEVEL=${LOG_LEVEL:-info}

say "simulated carrier SM-DP+ (every carrier, on :${SMDP_SIM_PORT:-3090})"
export SMDP_SIM_PORT=${SMDP_SIM_PORT:-3090}
export SMDP_URL_TEMPLATE="http://127.0.0.1:$SMDP_SIM_PORT/{carrierId}"
node --enable-source-maps dist/tools/smdp-sim/src/main.js >"$LOGS/smdp-sim.log" 2>&1 &
pids+=($!)
deadline=$((SECONDS + 30))
until curl -sf "http://127.0.0.1:$SMDP_SIM_PORT/health" >/dev/null; do
  if ((SECONDS > deadline)) || ! kill -0 "${pids[-1]}" 2>/dev/null; then
    echo "smdp-sim did not start; last lines of $LOGS/smdp-sim.log:" >&2; tail -20 "$LOGS/smdp-sim.log" >&2; exit 1
  fi
  sleep 0.2
done

say "services"
port=3001
for svc in registry ingestion coverage-monitor profile-orchestrator billing; do
  HTTP_PORT=$port node --enable-source-maps "dist/apps/$svc/src/main.js" >"$LOGS/$svc.log" 2>&1 &
  pids+=($!)
  deadline=$((SECONDS + 90))
  until curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null; do
    if ((SECONDS > deadline)) || ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "$svc did not become ready; last lines of $LOGS/$svc.log:" >&2; tail -20 "$LOGS/$svc.log" >&2; exit 1
    fi
    sleep 0.3
  done
  echo "   $svc ready on :$port"
  port=$((port + 1))
done

say "fleet: generate and import (a new fleet identity every run)"
TAG=d$(date +%H%M%S)
SIM=$ROOT/.sim/demo-$TAG
node dist/tools/meter-sim/src/main.js generate --scenario "$SCENARIO" --out "$SIM" --tag "$TAG" --seed "$RANDOM$RANDOM" >"$LOGS/sim-generate.log"
curl -sf -X PUT -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' --data-binary @"$SIM/carriers.json" http://127.0.0.1:3001/v1/catalogue >/dev/null
curl -sf -X POST -H "authorization: Bearer $TOKEN" -H 'content-type: application/x-ndjson' --data-binary @"$SIM/manifest.ndjson" http://127.0.0.1:3001/v1/imports/manifest
echo

say "live view (Ctrl-C to stop). carrier-a degrades in region north about 15 s in; watch the swaps."
node dist/tools/demo/watch.js &
pids+=($!)
# Meters on the meters' listener (client id = username), when the broker has one.
node dist/tools/meter-sim/src/main.js run --scenario "$SCENARIO" --state "$SIM" --mqtt-url "${MQTT_METER_URL:-$MQTT_URL}" \
  --eim-jwks http://127.0.0.1:3004/eim/jwks.json ${DURATION_S:+--duration-s "$DURATION_S"} >"$LOGS/sim.log" 2>&1 &
sim=$!
pids+=($sim)
wait "$sim"
say "scenario finished"
