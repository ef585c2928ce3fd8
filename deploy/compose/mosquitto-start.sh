#!/bin/sh
# Broker start for docker-compose.yml: create the dynamic-security database with the admin client
# on the very first start (as tools/stack/stack.sh does with `mosquitto_ctrl dynsec init`), then
# run the broker. The rest of the policy is applied by mosquitto-bootstrap.sh.
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
exec mosquitto -c "${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}"
