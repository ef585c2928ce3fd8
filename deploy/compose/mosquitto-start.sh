#!/bin/sh
# Broker start for docker-compose.yml: create the dynamic-security database with the admin client
# on the very first start (as tools/stack/stack.sh does with `mosquitto_ctrl dynsec init`), prepare
# the meters' password file, watch it and the CRL for changes (SIGHUP), then run the broker. The
# rest of the policy is applied by mosquitto-bootstrap.sh.
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

# The meters' password file on the volume shared with the registry (uid 1000), which replaces it
# by rename: the directory is the registry's, setgid mosquitto, so each new file it writes (mode
# 0640, taken from the old one) belongs to group mosquitto and the broker can read it, no one else.
PASSWORD_FILE=${PASSWORD_FILE:-/mosquitto/auth/meters.passwd}
AUTH_DIR=$(dirname "$PASSWORD_FILE")
chown 1000:mosquitto "$AUTH_DIR"
chmod 2750 "$AUTH_DIR"
if [ ! -f "$PASSWORD_FILE" ]; then
  : >"$PASSWORD_FILE"
  chown 1000:mosquitto "$PASSWORD_FILE"
  chmod 0640 "$PASSWORD_FILE"
fi

# The registry rewrites the CRL and the password file (by rename) on the shared volumes; mosquitto
# re-reads both on SIGHUP. This shell's pid becomes the broker's at `exec` below, so the watcher
# signals the broker. The registry waits for a canary line of each new password file to log in.
CRL_FILE=${CRL_FILE:-/mosquitto/tls/crl.pem}
BROKER_PID=$$
(
  state() { stat -c '%i %Y %s' "$CRL_FILE" "$PASSWORD_FILE" 2>/dev/null | tr '\n' ' '; }
  last=$(state)
  while sleep "${WATCH_INTERVAL_S:-1}"; do
    now=$(state)
    if [ -n "$now" ] && [ "$now" != "$last" ]; then
      kill -HUP "$BROKER_PID" 2>/dev/null || exit 0
      last=$now
    fi
  done
) &
exec mosquitto -c "${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}"
