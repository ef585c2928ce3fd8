#!/bin/sh
# shellcheck disable=SC2016 # single-quoted $CONTROL, $SYS and $share are literal on purpose
# One-shot broker policy for docker-compose.yml, mirroring mosq_bootstrap in tools/stack/stack.sh:
#   1. deny by default; the admin role keeps only $CONTROL/dynamic-security/# and $SYS/#
#      (the "#" rights that `dynsec init` grants are removed, so the admin cannot read meter traffic);
#   2. the ingestion client and its role: subscribe to the uplink (shared and unshared), receive
#      the uplink, publish the downlink;
#   3. read back the default access and the admin role, and fail unless they are as intended.
# Runs once per broker data volume (a marker file in it), like the stack's first `up`. Meters get
# their clients and roles from the registry when their manifest is imported.
# The ingestion password is placed in JSON as it is: no quotes or backslashes in it.
set -eu
: "${MQTT_ADMIN_USERNAME:?}" "${MQTT_ADMIN_PASSWORD:?}"
: "${MQTT_INGESTION_USERNAME:?}" "${MQTT_INGESTION_PASSWORD:?}"
HOST=${MQTT_HOST:-mosquitto}
PORT=${MQTT_PORT:-1883}
MARKER=${BOOTSTRAP_MARKER:-/mosquitto/data/.meterlink-bootstrapped}
CTL='$CONTROL/dynamic-security/v1'

if [ -f "$MARKER" ]; then
  echo "mosquitto-bootstrap: already done for this broker volume"
  exit 0
fi

# 1. These commands make the broker disconnect the admin, so their answer never arrives:
#    publish without waiting for it.
POLICY=${POLICY_DIR:-/meterlink/policy}  # tools/stack/mosquitto/policy, shared with the local stack
# mosquitto_pub may report the lost connection (exit 7); step 3 checks that the commands applied.
mosquitto_pub -h "$HOST" -p "$PORT" -u "$MQTT_ADMIN_USERNAME" -P "$MQTT_ADMIN_PASSWORD" -q 1 \
  -t "$CTL" -f "$POLICY/lockdown.json" || true
sleep 2

# 2. The ingestion role (mosquitto_rr -f sends an empty payload in 2.0.11, hence -m).
mosquitto_rr -h "$HOST" -p "$PORT" -u "$MQTT_ADMIN_USERNAME" -P "$MQTT_ADMIN_PASSWORD" \
  -q 1 -W 15 -t "$CTL" -e "$CTL/response" -m "$(cat "$POLICY/ingestion-role.json")" >/dev/null

# 3. The ingestion client, then read everything back, answered.
SETUP='{"commands":[
  {"command":"createClient","username":"'"$MQTT_INGESTION_USERNAME"'","password":"'"$MQTT_INGESTION_PASSWORD"'",
   "textname":"meterlink ingestion service","roles":[{"rolename":"ingestion","priority":0}]},
  {"command":"getDefaultACLAccess"},
  {"command":"getRole","rolename":"admin"}
]}'
RESPONSE=$(mosquitto_rr -h "$HOST" -p "$PORT" -u "$MQTT_ADMIN_USERNAME" -P "$MQTT_ADMIN_PASSWORD" \
  -q 1 -W 15 -t "$CTL" -e "$CTL/response" -m "$SETUP")

case $RESPONSE in
  *'"error"'*)
    echo "mosquitto-bootstrap: dynsec refused a command: $RESPONSE" >&2
    exit 1
    ;;
esac
for acltype in publishClientSend publishClientReceive subscribe unsubscribe; do
  case $RESPONSE in
    *"{\"acltype\":\"$acltype\",\"allow\":false}"*) ;;
    *)
      echo "mosquitto-bootstrap: default access for $acltype is not deny: $RESPONSE" >&2
      exit 1
      ;;
  esac
done
case $RESPONSE in
  *'"topic":"#"'*)
    echo "mosquitto-bootstrap: the admin role still has ACLs on '#': $RESPONSE" >&2
    exit 1
    ;;
esac

touch "$MARKER"
echo "mosquitto-bootstrap: deny by default; clients $MQTT_ADMIN_USERNAME (dynsec admin) and $MQTT_INGESTION_USERNAME (ingestion)"
