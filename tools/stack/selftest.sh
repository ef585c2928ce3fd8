#!/usr/bin/env bash
# Checks, against the running local stack, that the Mosquitto dynamic-security
# model does what tools/stack/README.md says: per-meter provisioning with the
# documented JSON commands, meters confined to their own topics, the ingestion
# service's rights, no anonymous access, disable/delete taking effect at once,
# that dynsec in this mosquitto does NOT substitute %u/%c in ACL topics, and
# that the TLS listener takes only certificates of the device CA (CN = meterId,
# confined like the password login, revoked ones refused after a reload).
#
#   tools/stack/stack.sh up && tools/stack/selftest.sh
#
# Uses mosquitto_pub/mosquitto_sub only; the test meters it creates are removed
# again on exit. Exits non-zero if any check fails.
# shellcheck disable=SC2016,SC2015 # literal $CONTROL/$share; `cond && ok || nok` is safe (ok never fails)
set -euo pipefail

# shellcheck source=tools/stack/stack.sh
source "$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/stack.sh"

load_ports
load_credentials || die "no MQTT credentials in $CREDENTIALS; run: $SCRIPT_DIR/stack.sh up"
mosq_probe || die "mosquitto is not ready on $BIND:$MQTT_PORT; run: $SCRIPT_DIR/stack.sh up"

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); printf 'ok    %s\n' "$1"; }
nok() { FAIL=$((FAIL + 1)); printf 'FAIL  %s\n' "$1"; [[ -z ${2:-} ]] || printf '      %s\n' "$2"; }
check() { # description command... : passes if the command succeeds
  local d=$1
  shift
  if "$@"; then ok "$d"; else nok "$d"; fi
}

TMP=$(mktemp -d /tmp/meterlink-selftest.XXXXXX)
chmod 700 "$TMP"
SUF=$(gen_secret | tr '[:upper:]' '[:lower:]' | cut -c1-8)
A=selftest-a-$SUF
B=selftest-b-$SUF
P=selftest-p-$SUF
PW_A=$(gen_secret)
PW_B=$(gen_secret)
PW_P=$(gen_secret)
declare -A SUBS=()

cleanup() {
  local n
  for n in "${!SUBS[@]}"; do kill "${SUBS[$n]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  dynsec_cmd '{"commands":[
    {"command":"deleteClient","username":"'"$A"'"},{"command":"deleteRole","rolename":"meter:'"$A"'"},
    {"command":"deleteClient","username":"'"$B"'"},{"command":"deleteRole","rolename":"meter:'"$B"'"},
    {"command":"deleteClient","username":"'"$P"'"},{"command":"deleteRole","rolename":"selftest-pattern:'"$P"'"}
  ]}' >/dev/null 2>&1 || true # some are already gone: errors expected
  if [[ -n ${SELFTEST_KEEP:-} ]]; then echo "kept $TMP"; else rm -rf -- "$TMP"; fi
}
trap cleanup EXIT

# cfg NAME USER PASS: options dir for the mosquitto clients ($XDG_CONFIG_HOME),
# so no password shows up on a command line. USER "" = anonymous.
cfg() {
  local d=$TMP/cfg/$1 p
  mkdir -p "$d"
  for p in mosquitto_pub mosquitto_sub; do
    {
      printf -- '-h %s\n-p %s\n' "$BIND" "$MQTT_PORT"
      [[ -z $2 ]] || printf -- '-u %s\n-P %s\n' "$2" "$3"
    } >"$d/$p"
  done
}
as() { local n=$1; shift; XDG_CONFIG_HOME=$TMP/cfg/$n "$@"; }

# Poll FILE for a fixed string until the deadline (seconds).
wait_for() { # file string seconds
  local deadline=$(($(now_ms) + $3 * 1000))
  until grep -qF -- "$2" "$1" 2>/dev/null; do
    (($(now_ms) < deadline)) || return 1
    sleep 0.05
  done
}

# start_sub NAME CFG ARGS...: background subscriber (debug output, so we can see
# its SUBACK); waits until the broker acknowledged the subscription.
start_sub() {
  local n=$1 c=$2
  shift 2
  # a plain command (not a function) in the background, so that $! is mosquitto_sub itself
  XDG_CONFIG_HOME=$TMP/cfg/$c stdbuf -oL mosquitto_sub -d -v -q 1 -W 120 "$@" >"$TMP/$n.out" 2>&1 &
  SUBS[$n]=$!
  wait_for "$TMP/$n.out" "Subscribed (mid" 10
}
stop_sub() { kill "${SUBS[$1]}" 2>/dev/null || true; wait "${SUBS[$1]}" 2>/dev/null || true; unset "SUBS[$1]"; }

# pub CFG CLIENTID TOPIC PAYLOAD: MQTT v5 QoS 1 publish; prints the debug output
# (contains the PUBACK reason code: RC:0 accepted, RC:135 not authorised).
pub() { as "$1" mosquitto_pub -V mqttv5 -d -q 1 -i "$2" -t "$3" -m "$4" 2>&1 || true; }

# accepted OUTPUT: the PUBACK reason code is a success code (0, or 16 "no
# matching subscribers"); denied OUTPUT: 135 "not authorised".
accepted() { [[ $1 == *"received PUBACK (Mid: 1, RC:0)"* || $1 == *"received PUBACK (Mid: 1, RC:16)"* ]]; }
denied() { [[ $1 == *"received PUBACK (Mid: 1, RC:135)"* ]]; }

# suback CFG CLIENTID FILTER: prints the granted QoS / failure code from the SUBACK.
suback() {
  as "$1" mosquitto_sub -d -E -q 1 -i "$2" -t "$3" 2>&1 | sed -n 's/^Subscribed (mid: [0-9]*): //p' || true
}

# The documented provisioning message (README.md, "Provisioning a meter").
provision_json() { # meterId password
  cat <<EOF
{"commands":[
  {"command":"createRole","rolename":"meter:$1","textname":"meter $1","acls":[
    {"acltype":"publishClientSend","topic":"mtr/v1/$1/up/#","priority":0,"allow":true},
    {"acltype":"subscribePattern","topic":"mtr/v1/$1/down/#","priority":0,"allow":true},
    {"acltype":"unsubscribePattern","topic":"mtr/v1/$1/down/#","priority":0,"allow":true},
    {"acltype":"publishClientReceive","topic":"mtr/v1/$1/down/#","priority":0,"allow":true}]},
  {"command":"createClient","username":"$1","clientid":"$1","password":"$2","textname":"meter $1",
   "roles":[{"rolename":"meter:$1","priority":0}]}
]}
EOF
}

echo "meterlink stack selftest: mosquitto $BIND:$MQTT_PORT (TLS $MQTT_TLS_PORT), test meters $A $B"

cfg ing "$MQTT_INGESTION_USERNAME" "$MQTT_INGESTION_PASSWORD"
cfg a "$A" "$PW_A"
cfg b "$B" "$PW_B"
cfg p "$P" "$PW_P"
cfg anon "" ""
cfg a-wrong "$A" "not-the-password"

# ---- provisioning
check "provision meter A with createRole + createClient" dynsec_cmd "$(provision_json "$A" "$PW_A")"
check "provision meter B with createRole + createClient" dynsec_cmd "$(provision_json "$B" "$PW_B")"
if dynsec_cmd "$(provision_json "$A" "$PW_A")" 2>/dev/null; then
  nok "provisioning an existing meter again is rejected"
else
  [[ $DYNSEC_RESPONSE == *"already exists"* ]] && ok "provisioning an existing meter again is rejected ('already exists')" ||
    nok "provisioning an existing meter again is rejected" "$DYNSEC_RESPONSE"
fi

# ---- ingestion subscriptions (shared and plain)
check "ingestion may subscribe \$share/ingestion/mtr/v1/+/up/#" start_sub shared ing -t '$share/ingestion/mtr/v1/+/up/#'
check "ingestion may subscribe mtr/v1/+/up/#" start_sub plain ing -t 'mtr/v1/+/up/#'
grep -q '^Subscribed (mid: 1): 1$' "$TMP/shared.out" && ok "shared subscription granted QoS 1" ||
  nok "shared subscription granted QoS 1" "$(grep Subscribed "$TMP/shared.out")"
grep -q '^Subscribed (mid: 1): 1$' "$TMP/plain.out" && ok "plain subscription granted QoS 1" ||
  nok "plain subscription granted QoS 1" "$(grep Subscribed "$TMP/plain.out")"

# ---- uplinks
N1=own-$RANDOM$RANDOM
out=$(pub a "$A" "mtr/v1/$A/up/reading" "$N1")
accepted "$out" && ok "A publishes to its own mtr/v1/A/up/... (PUBACK 0)" ||
  nok "A publishes to its own mtr/v1/A/up/..." "$out"
wait_for "$TMP/plain.out" "$N1" 10 && ok "ingestion (plain sub) receives A's uplink" || nok "ingestion (plain sub) receives A's uplink"

# Shared subscriptions are round-robin within the group: if the real ingestion
# service is connected to this stack it is in group "ingestion" too and gets
# some of these. A burst of 12 over one connection reaches every member (up to
# 12 members) at least once.
NS=burst-$RANDOM$RANDOM
for i in $(seq 1 12); do echo "$NS-$i"; done | as a mosquitto_pub -q 1 -i "$A" -t "mtr/v1/$A/up/burst" -l >/dev/null 2>&1 || true
if wait_for "$TMP/plain.out" "$NS-12" 10 && grep -qF "$NS-" "$TMP/shared.out"; then
  ok "ingestion (shared sub) receives A's uplinks ($(grep -cF "$NS-" "$TMP/shared.out") of 12; the rest went to other group members)"
else
  nok "ingestion (shared sub) receives A's uplinks"
fi

N2=foreign-$RANDOM$RANDOM
out=$(pub a "$A" "mtr/v1/$B/up/reading" "$N2")
denied "$out" && ok "A publishing to mtr/v1/B/up/... is refused (PUBACK 135 not authorised)" ||
  nok "A publishing to mtr/v1/B/up/... is refused" "$out"
N3=other-$RANDOM$RANDOM
out=$(pub a "$A" "mtr/v1/other/x" "$N3")
denied "$out" && ok "A publishing outside mtr/v1/A/up is refused" || nok "A publishing outside mtr/v1/A/up is refused" "$out"
# oversize: the broker drops payloads above message_size_limit (32 KiB)
head -c 40000 /dev/zero | tr '\0' 'x' >"$TMP/big"
N4=big-$RANDOM$RANDOM
as a mosquitto_pub -q 1 -i "$A" -t "mtr/v1/$A/up/big/$N4" -f "$TMP/big" >/dev/null 2>&1 || true
head -c 20000 /dev/zero | tr '\0' 'y' >"$TMP/mid"
N5=mid-$RANDOM$RANDOM
as a mosquitto_pub -q 1 -i "$A" -t "mtr/v1/$A/up/mid/$N5" -f "$TMP/mid" >/dev/null 2>&1 || true
# sentinel: published after the others over a new connection; once it has
# arrived, anything published earlier that was going to be delivered has been.
N6=sentinel-$RANDOM$RANDOM
pub a "$A" "mtr/v1/$A/up/reading" "$N6" >/dev/null
if wait_for "$TMP/plain.out" "$N6" 10; then
  ! grep -qF "$N2" "$TMP/plain.out" "$TMP/shared.out" && ok "A's message to B's topic was not delivered" ||
    nok "A's message to B's topic was not delivered"
  ! grep -qF "$N3" "$TMP/plain.out" "$TMP/shared.out" && ok "A's message outside its topics was not delivered" ||
    nok "A's message outside its topics was not delivered"
  grep -qF "$N5" "$TMP/plain.out" && ok "20 000-byte uplink is delivered" || nok "20 000-byte uplink is delivered"
  ! grep -qF "$N4" "$TMP/plain.out" && ok "40 000-byte uplink (> message_size_limit 32768) is dropped" ||
    nok "40 000-byte uplink (> message_size_limit 32768) is dropped"
else
  nok "sentinel uplink arrived at ingestion"
fi
stop_sub shared
stop_sub plain

# ---- meter subscriptions
r=$(suback a "$A" "mtr/v1/$B/down/#")
[[ $r == 128 ]] && ok "A may not subscribe mtr/v1/B/down/# (SUBACK 128)" || nok "A may not subscribe mtr/v1/B/down/#" "SUBACK: $r"
r=$(suback a "$A" "mtr/v1/+/down/#")
[[ $r == 128 ]] && ok "A may not subscribe mtr/v1/+/down/# (SUBACK 128)" || nok "A may not subscribe mtr/v1/+/down/#" "SUBACK: $r"
r=$(suback a "$A" "#")
[[ $r == 128 ]] && ok "A may not subscribe # (SUBACK 128)" || nok "A may not subscribe #" "SUBACK: $r"
r=$(suback a "$A" "mtr/v1/$A/up/#")
[[ $r == 128 ]] && ok "A may not subscribe to uplinks, even its own (SUBACK 128)" || nok "A may not subscribe to its own uplinks" "SUBACK: $r"
r=$(suback a "$A" "mtr/v1/$A/down/#")
[[ $r == 1 ]] && ok "A may subscribe its own mtr/v1/A/down/# (QoS 1)" || nok "A may subscribe its own mtr/v1/A/down/#" "SUBACK: $r"

# ---- downlinks
if start_sub a-down a -i "$A" -t "mtr/v1/$A/down/#" && start_sub b-down b -i "$B" -t "mtr/v1/$B/down/#"; then
  N7=down-$RANDOM$RANDOM
  out=$(pub ing "ingestion-selftest-$SUF" "mtr/v1/$A/down/cmd" "$N7")
  accepted "$out" && ok "ingestion publishes a downlink to mtr/v1/A/down/..." || nok "ingestion publishes a downlink" "$out"
  wait_for "$TMP/a-down.out" "$N7" 10 && ok "A receives its downlink" || nok "A receives its downlink"
  N8=down-$RANDOM$RANDOM
  pub ing "ingestion-selftest-$SUF" "mtr/v1/$B/down/cmd" "$N8" >/dev/null
  wait_for "$TMP/b-down.out" "$N8" 10 && ! grep -qF "$N7" "$TMP/b-down.out" &&
    ok "B receives only its own downlink" || nok "B receives only its own downlink"
  stop_sub b-down
else
  nok "A and B can subscribe to their own downlink topics"
fi
out=$(pub ing "ingestion-selftest-$SUF" "mtr/v1/$A/up/forged" "x")
denied "$out" && ok "ingestion may not publish uplinks (forging a meter)" || nok "ingestion may not publish uplinks" "$out"
out=$(pub ing "ingestion-selftest-$SUF" '$CONTROL/dynamic-security/v1' '{"commands":[{"command":"listClients"}]}')
denied "$out" && ok "ingestion may not send dynsec commands" || nok "ingestion may not send dynsec commands" "$out"
r=$(suback ing "ingestion-selftest-$SUF" "#")
[[ $r == 128 ]] && ok "ingestion may not subscribe # (SUBACK 128)" || nok "ingestion may not subscribe #" "SUBACK: $r"

# ---- authentication
out=$(as anon mosquitto_pub -q 1 -t "mtr/v1/$A/up/x" -m x 2>&1) && nok "anonymous connection is refused" "$out" ||
  { [[ $out == *"not authori"* ]] && ok "anonymous connection is refused" || nok "anonymous connection is refused" "$out"; }
out=$(as a-wrong mosquitto_pub -q 1 -i "$A" -t "mtr/v1/$A/up/x" -m x 2>&1) && nok "wrong password is refused" "$out" ||
  { [[ $out == *"not authori"* ]] && ok "wrong password is refused" || nok "wrong password is refused" "$out"; }
out=$(as a mosquitto_pub -q 1 -i "not-$A" -t "mtr/v1/$A/up/x" -m x 2>&1) && nok "A with a different client id is refused" "$out" ||
  { [[ $out == *"not authori"* ]] && ok "A with a different client id is refused (clientid bound)" || nok "A with a different client id is refused" "$out"; }

# ---- TLS listener: client certificates from the device CA, CN = meterId
# Test certificates come from the stack's device CA (valid one day); the revocation check adds one
# serial to the CRL, which stays there harmlessly (its key is deleted on exit) until the registry
# next rewrites the CRL from its database.
if mosq_has_tls; then
  PKI_TMP=$TMP/pki
  mkdir -p "$PKI_TMP"
  X=selftest-x-$SUF
  pki_issue "$A" "$PKI_TMP/a" 1 clientAuth >/dev/null || nok "issue a certificate for A"
  SERIAL_A2=$(pki_issue "$A" "$PKI_TMP/a2" 1 clientAuth) || nok "issue a second certificate for A"
  pki_issue "$B" "$PKI_TMP/b" 1 clientAuth >/dev/null || nok "issue a certificate for B"
  pki_issue "$X" "$PKI_TMP/x" 1 clientAuth >/dev/null || nok "issue a certificate for a CN without a broker client"
  # A CA the broker does not trust, issuing "A".
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI_TMP/rogue-ca.key" \
    -subj "/CN=rogue CA" -days 1 -out "$PKI_TMP/rogue-ca.pem" >/dev/null 2>&1
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI_TMP/rogue.key.pem" \
    -subj "/CN=$A" -out "$PKI_TMP/rogue.csr" >/dev/null 2>&1
  openssl x509 -req -in "$PKI_TMP/rogue.csr" -CA "$PKI_TMP/rogue-ca.pem" -CAkey "$PKI_TMP/rogue-ca.key" \
    -set_serial 0x42 -days 1 -out "$PKI_TMP/rogue.cert.pem" >/dev/null 2>&1

  # cfg_tls NAME [CERT-PREFIX]: options for a TLS client that checks the broker against the device
  # CA and presents CERT-PREFIX.cert.pem (no certificate when omitted).
  cfg_tls() {
    local d=$TMP/cfg/$1 p
    mkdir -p "$d"
    for p in mosquitto_pub mosquitto_sub; do
      {
        printf -- '-h localhost\n-p %s\n--cafile %s\n' "$MQTT_TLS_PORT" "$PKI_CA_CERT"
        [[ -z ${2:-} ]] || printf -- '--cert %s.cert.pem\n--key %s.key.pem\n' "$PKI_TMP/$2" "$PKI_TMP/$2"
      } >"$d/$p"
    done
  }
  cfg_tls a-tls a
  cfg_tls a2-tls a2
  cfg_tls b-tls b
  cfg_tls x-tls x
  cfg_tls rogue-tls rogue
  cfg_tls none-tls
  refused() { [[ $1 != *"received CONNACK (0)"* ]]; }

  start_sub tls-plain ing -t 'mtr/v1/+/up/#' || nok "ingestion subscribes for the TLS checks"
  N9=tls-own-$RANDOM$RANDOM
  out=$(pub a-tls "$A" "mtr/v1/$A/up/reading" "$N9")
  accepted "$out" && ok "TLS: A's certificate connects and publishes to mtr/v1/A/up/... (PUBACK 0)" ||
    nok "TLS: A's certificate connects and publishes to its own topic" "$out"
  wait_for "$TMP/tls-plain.out" "$N9" 10 && ok "TLS: ingestion receives A's uplink sent over TLS" ||
    nok "TLS: ingestion receives A's uplink sent over TLS"
  N10=tls-foreign-$RANDOM$RANDOM
  out=$(pub b-tls "$B" "mtr/v1/$A/up/reading" "$N10")
  denied "$out" && ok "TLS: B's certificate cannot publish under mtr/v1/A/up/... (PUBACK 135)" ||
    nok "TLS: B's certificate cannot publish under A's topic" "$out"
  out=$(pub a-tls "$A" "mtr/v1/$B/up/reading" "$N10")
  denied "$out" && ok "TLS: A's certificate cannot publish under mtr/v1/B/up/... (PUBACK 135)" ||
    nok "TLS: A's certificate cannot publish under B's topic" "$out"
  out=$(pub x-tls "$X" "mtr/v1/$X/up/reading" "x")
  denied "$out" && ok "TLS: a valid certificate whose CN has no broker client may publish nowhere" ||
    nok "TLS: a certificate whose CN has no broker client may publish nowhere" "$out"
  # use_username_as_clientid: A connecting with client id B is renamed A, so B keeps its session.
  if start_sub b-tls-live b-tls -i "$B" -t "mtr/v1/$B/down/#"; then
    out=$(pub a-tls "$B" "mtr/v1/$A/up/reading" "takeover")
    if accepted "$out" && pid_alive "${SUBS[b-tls-live]}"; then
      ok "TLS: A's certificate with client id B gets client id A (B's session is not taken over)"
    else
      nok "TLS: A's certificate with client id B gets client id A" "$out"
    fi
    stop_sub b-tls-live
  else
    nok "TLS: B subscribes to its downlink over TLS"
  fi
  out=$(pub none-tls "$A" "mtr/v1/$A/up/reading" "x")
  refused "$out" && ok "TLS: a client without a certificate is refused" || nok "TLS: a client without a certificate is refused" "$out"
  out=$(pub rogue-tls "$A" "mtr/v1/$A/up/reading" "x")
  refused "$out" && ok "TLS: a certificate for A from another CA is refused" ||
    nok "TLS: a certificate for A from another CA is refused" "$out"
  out=$(pub a2-tls "$A" "mtr/v1/$A/up/reading" "before-revocation")
  accepted "$out" && ok "TLS: A's second certificate works before it is revoked" ||
    nok "TLS: A's second certificate works before it is revoked" "$out"
  if [[ -n ${SERIAL_A2:-} ]] && pki_write_crl "$SERIAL_A2" && pki_reload_broker; then
    deadline=$(($(now_ms) + 5000))
    until refused "$(pub a2-tls "$A" "mtr/v1/$A/up/reading" "after-revocation")"; do
      (($(now_ms) < deadline)) || break
      sleep 0.1
    done
    out=$(pub a2-tls "$A" "mtr/v1/$A/up/reading" "after-revocation")
    refused "$out" && ok "TLS: a revoked certificate is refused once the CRL is reloaded (SIGHUP)" ||
      nok "TLS: a revoked certificate is refused once the CRL is reloaded" "$out"
    out=$(pub a-tls "$A" "mtr/v1/$A/up/reading" "other-cert")
    accepted "$out" && ok "TLS: A's other, unrevoked certificate still works" || nok "TLS: A's other certificate still works" "$out"
  else
    nok "TLS: revoke A's second certificate (CRL + SIGHUP)"
  fi
  stop_sub tls-plain
else
  nok "the broker has a TLS listener on $MQTT_TLS_PORT" "restart it: $SCRIPT_DIR/stack.sh stop mosquitto && $SCRIPT_DIR/stack.sh up"
fi

# ---- %u / %c in dynsec ACL topics
dynsec_cmd '{"commands":[
  {"command":"createRole","rolename":"selftest-pattern:'"$P"'","acls":[
    {"acltype":"publishClientSend","topic":"mtr/v1/%u/up/#","allow":true},
    {"acltype":"publishClientSend","topic":"mtr/v1/%c/up/#","allow":true}]},
  {"command":"createClient","username":"'"$P"'","password":"'"$PW_P"'","roles":[{"rolename":"selftest-pattern:'"$P"'"}]}
]}' || nok "create the %u/%c probe client"
out=$(pub p "$P" "mtr/v1/$P/up/x" "pattern")
if denied "$out"; then
  ok "dynsec does NOT substitute %u/%c in ACL topics (hence one role per meter)"
else
  nok "dynsec does NOT substitute %u/%c in ACL topics" "publish as $P to mtr/v1/$P/up/x was accepted: README.md is out of date ($out)"
fi

# ---- disable / enable / delete
start_sub a-live a -i "$A" -t "mtr/v1/$A/down/#" || true
check "disableClient A" dynsec_cmd '{"commands":[{"command":"disableClient","username":"'"$A"'"}]}'
deadline=$(($(now_ms) + 5000))
while pid_alive "${SUBS[a-live]}" && (($(now_ms) < deadline)); do sleep 0.05; done
if pid_alive "${SUBS[a-live]}"; then nok "disabling A disconnects its live session"; else ok "disabling A disconnects its live session"; fi
unset 'SUBS[a-live]'
out=$(as a mosquitto_pub -q 1 -i "$A" -t "mtr/v1/$A/up/x" -m x 2>&1) && nok "disabled A cannot connect" ||
  { [[ $out == *"not authori"* ]] && ok "disabled A cannot connect" || nok "disabled A cannot connect" "$out"; }
check "enableClient A" dynsec_cmd '{"commands":[{"command":"enableClient","username":"'"$A"'"}]}'
out=$(pub a "$A" "mtr/v1/$A/up/reading" "again")
accepted "$out" && ok "re-enabled A can publish again" || nok "re-enabled A can publish again" "$out"
check "deleteClient + deleteRole A" dynsec_cmd '{"commands":[{"command":"deleteClient","username":"'"$A"'"},{"command":"deleteRole","rolename":"meter:'"$A"'"}]}'
out=$(as a mosquitto_pub -q 1 -i "$A" -t "mtr/v1/$A/up/x" -m x 2>&1) && nok "deleted A cannot connect" ||
  { [[ $out == *"not authori"* ]] && ok "deleted A cannot connect" || nok "deleted A cannot connect" "$out"; }

echo
echo "$PASS passed, $FAIL failed"
((FAIL == 0))
