#!/bin/sh
# Broker start for docker-compose.yml: create the dynamic-security database with the admin client
# on the very first start (as tools/stack/stack.sh does with `mosquitto_ctrl dynsec init`), watch
# the CRL for changes (SIGHUP), then run the broker. The rest of the policy is applied by
# mosquitto-bootstrap.sh.
set -eu
: "${MQTT_ADMIN_USERNAME:?}" "${MQTT_ADMIN_PASSWORD:?}"
DYNSEC_FILE=${DYNSEC_FILE:-/mosquitto/data/dynamic-security.json}
if [ ! -f "$DYNSEC_FILE" ]; then
  mosquitto_ctrl dynsec init "$DYNSEC_FILE" "$MQTT_ADMIN_USERNAME" "$MQTT_ADMIN_PASSWORD" >/dev/null
  chmod 600 "$DYNSEC_FILE"
  echo "mosquitto-start: dynamic security initialised (admin client $MQTT_ADMIN_USERNAME)"
fi
# The broker drops root for the image's mosquitto user, which must own its data.
chown -R mosquitto:mosquitto "$(dirname "$DYNSEC_FILE")"

# The registry rewrites the CRL (by rename) on the shared volume; mosquitto re-reads it on SIGHUP.
# This shell's pid becomes the broker's at `exec` below, so the watcher signals the broker.
CRL_FILE=${CRL_FILE:-/mosquitto/tls/crl.pem}
BROKER_PID=$$
(
  last=$(stat -c '%i %Y %s' "$CRL_FILE" 2>/dev/null || true)
  while sleep "${CRL_WATCH_INTERVAL_S:-5}"; do
    now=$(stat -c '%i %Y %s' "$CRL_FILE" 2>/dev/null || true)
    if [ -n "$now" ] && [ "$now" != "$last" ]; then
      kill -HUP "$BROKER_PID" 2>/dev/null || exit 0
      last=$now
    fi
  done
) &
exec mosquitto -c "${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}"
