#!/usr/bin/env bash
# Checks, against the running local stack, that the Mosquitto dynamic-security
# model does what tools/stack/README.md says: per-meter provisioning with the
# documented JSON commands, meters confined to their own topics, the ingestion
# service's rights, no anonymous access, disable/delete taking effect at once,
# that dynsec in this mosquitto does NOT substitute %u/%c in ACL topics, that
# the TLS listener takes only certificates of the device CA (CN = meterId,
# confined like the password login, revoked ones refused after a reload), and
# the meters' password listener (BROKER_CREDENTIALS=password-file): password
# file + acl_file patterns, client id bound to the username, a removed line
# disconnecting the meter, the services' dynsec rights not widened by the file.
#
# The password-file checks add two lines to the stack's password file and take
# them out again; a registry running against the stack at the same time may
# rewrite the file in between (then those checks fail: run again).
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
M=selftest-m-$SUF
N=selftest-n-$SUF
PW_M=$(gen_secret)
PW_N=$(gen_secret)
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
  pwfile_remove "$M" "$N" 2>/dev/null || true
  if [[ -n ${SELFTEST_KEEP:-} ]]; then echo "kept $TMP"; else rm -rf -- "$TMP"; fi
}
trap cleanup EXIT

# pwfile_add FILE: append the (already hashed) lines of FILE to the stack's password file;
# pwfile_remove USER...: take those users' lines out. Both replace the file atomically, keeping its
# owner and mode (the broker reads it after dropping root), and make the broker reload it.
pwfile_replace() { # sed-or-cat command producing the new content from the old on stdin
  local tmp
  [[ -f $MQTT_PASSWORD_FILE ]] || return 1
  tmp=$(dirname -- "$MQTT_PASSWORD_FILE")/.selftest.$$.tmp
  cp -p -- "$MQTT_PASSWORD_FILE" "$tmp" && "$@" <"$MQTT_PASSWORD_FILE" >"$tmp" && mv -f -- "$tmp" "$MQTT_PASSWORD_FILE" &&
    pki_reload_broker
}
pwfile_add() { pwfile_replace cat - "$1"; }
pwfile_remove() {
  local u expr=""
  for u in "$@"; do expr+="${expr:+|}^$u:"; done
  pwfile_replace grep_out "$expr"
}
grep_out() { grep -Ev -- "$1" || true; } # an empty result is fine

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

echo "meterlink stack selftest: mosquitto $BIND:$MQTT_PORT (meters $MQTT_METER_PORT, TLS $MQTT_TLS_PORT), test meters $A $B $M $N"

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
# dynsec defers what a role does not grant to the acl_file, whose classic check grants every
# SUBSCRIBE and checks read access at delivery: what counts is what gets delivered (below).
r=$(suback a "$A" "mtr/v1/$A/down/#")
[[ $r == 1 ]] && ok "A may subscribe its own mtr/v1/A/down/# (QoS 1)" || nok "A may subscribe its own mtr/v1/A/down/#" "SUBACK: $r"

# ---- downlinks
# A also subscribes to filters that cover other meters' traffic (its client id is bound: one session).
if start_sub a-down a -i "$A" -t "mtr/v1/$A/down/#" -t '#' -t 'mtr/v1/+/down/#' -t "mtr/v1/$B/down/#" -t 'mtr/v1/+/up/#' &&
  start_sub b-down b -i "$B" -t "mtr/v1/$B/down/#" &&
  start_sub ing-wide ing -i "ingestion-wide-$SUF" -t '#'; then
  N7=down-$RANDOM$RANDOM
  out=$(pub ing "ingestion-selftest-$SUF" "mtr/v1/$A/down/cmd" "$N7")
  accepted "$out" && ok "ingestion publishes a downlink to mtr/v1/A/down/..." || nok "ingestion publishes a downlink" "$out"
  wait_for "$TMP/a-down.out" "$N7" 10 && ok "A receives its downlink" || nok "A receives its downlink"
  N8=down-$RANDOM$RANDOM
  pub ing "ingestion-selftest-$SUF" "mtr/v1/$B/down/cmd" "$N8" >/dev/null
  wait_for "$TMP/b-down.out" "$N8" 10 && ! grep -qF "$N7" "$TMP/b-down.out" &&
    ok "B receives only its own downlink" || nok "B receives only its own downlink"
  N8b=up-$RANDOM$RANDOM
  pub b "$B" "mtr/v1/$B/up/reading" "$N8b" >/dev/null
  # A's sentinel: its own downlink, sent last; once A's wide subscription has it, anything else
  # that was going to be delivered to it has been.
  N8c=down-$RANDOM$RANDOM
  pub ing "ingestion-selftest-$SUF" "mtr/v1/$A/down/cmd" "$N8c" >/dev/null
  if wait_for "$TMP/a-down.out" "$N8c" 10; then
    ! grep -qF -e "$N8" -e "$N8b" "$TMP/a-down.out" &&
      ok "A subscribed to #, mtr/v1/+/down/#, mtr/v1/B/down/#, mtr/v1/+/up/# receives only its own downlink" ||
      nok "A's wide subscriptions receive only its own downlink" "$(grep -F -e "$N8" -e "$N8b" "$TMP/a-down.out")"
  else
    nok "A's wide subscription receives its own downlink"
  fi
  # ingestion's role receives uplinks only: none of the downlinks above reach its '#'.
  wait_for "$TMP/ing-wide.out" "$N8b" 10 && ! grep -qF -e "$N7" -e "$N8" -e "$N8c" "$TMP/ing-wide.out" &&
    ok "ingestion subscribed to # receives uplinks only, no downlink" ||
    nok "ingestion subscribed to # receives uplinks only" "$(grep -F -e "$N7" -e "$N8" "$TMP/ing-wide.out")"
  stop_sub ing-wide
  stop_sub b-down
else
  nok "A and B can subscribe to their own downlink topics"
fi
out=$(pub ing "ingestion-selftest-$SUF" "mtr/v1/$A/up/forged" "x")
denied "$out" && ok "ingestion may not publish uplinks (forging a meter)" || nok "ingestion may not publish uplinks" "$out"
out=$(pub ing "ingestion-selftest-$SUF" '$CONTROL/dynamic-security/v1' '{"commands":[{"command":"listClients"}]}')
denied "$out" && ok "ingestion may not send dynsec commands" || nok "ingestion may not send dynsec commands" "$out"

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
  # A CN dynsec does not know is a meter of the password-file mode: the acl_file patterns confine
  # it to its own topics (the device CA issues certificates to registered meters only, and the CRL
  # takes them back).
  out=$(pub x-tls "$X" "mtr/v1/$A/up/reading" "x")
  denied "$out" && ok "TLS: a certificate whose CN has no dynsec client may not publish under another meter's topic" ||
    nok "TLS: a certificate whose CN has no dynsec client may not publish under another meter's topic" "$out"
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

# ---- meters' password listener: password file written by the registry + acl_file patterns
if mosq_has_password_file; then
  # cfg_meter NAME USER PASS: options for the meters' listener.
  cfg_meter() {
    local d=$TMP/cfg/$1 p
    mkdir -p "$d"
    for p in mosquitto_pub mosquitto_sub; do printf -- '-h %s\n-p %s\n-u %s\n-P %s\n' "$BIND" "$MQTT_METER_PORT" "$2" "$3" >"$d/$p"; done
  }
  cfg_meter m "$M" "$PW_M"
  cfg_meter n "$N" "$PW_N"
  cfg_meter n-as-m "$N" "$PW_M"
  # mosquitto_passwd -U hashes a plain user:password file in place (no password on a command line).
  (umask 077 && printf '%s:%s\n%s:%s\n' "$M" "$PW_M" "$N" "$PW_N" >"$TMP/meters.passwd")
  if mosquitto_passwd -U "$TMP/meters.passwd" && pwfile_add "$TMP/meters.passwd"; then
    deadline=$(($(now_ms) + 10000))
    until accepted "$(pub m "$M" "mtr/v1/$M/up/reading" "hello")"; do
      (($(now_ms) < deadline)) || break
      sleep 0.1
    done
    out=$(pub m "$M" "mtr/v1/$M/up/reading" "own")
    accepted "$out" && ok "password file: M (a line in the file) publishes to its own mtr/v1/M/up/... on the meters' listener" ||
      nok "password file: M publishes to its own topic on the meters' listener" "$out"
    out=$(pub m "$M" "mtr/v1/$N/up/reading" "foreign")
    denied "$out" && ok "password file: M publishing under mtr/v1/N/up/... is refused (acl_file pattern, PUBACK 135)" ||
      nok "password file: M publishing under N's topic is refused" "$out"
    out=$(pub m "$M" "mtr/v1/$M/down/x" "down")
    denied "$out" && ok "password file: M may not publish to its own downlink" || nok "password file: M may not publish to its own downlink" "$out"
    out=$(as n-as-m mosquitto_pub -q 1 -i "$N" -t "mtr/v1/$N/up/x" -m x 2>&1) && nok "password file: N with M's password is refused" "$out" ||
      { [[ $out == *"not authori"* ]] && ok "password file: N with M's password is refused" || nok "password file: N with M's password is refused" "$out"; }
    # use_username_as_clientid on the meters' listener: N asking for client id M gets client id N.
    if start_sub m-live m -i "$M" -t "mtr/v1/$M/down/#"; then
      out=$(pub n "$M" "mtr/v1/$N/up/reading" "takeover")
      if accepted "$out" && pid_alive "${SUBS[m-live]}"; then
        ok "password file: N connecting with client id M gets client id N (M's session is not taken over)"
      else
        nok "password file: N connecting with client id M gets client id N" "$out"
      fi
      out=$(pub ing "ingestion-selftest-$SUF" "mtr/v1/$M/down/cmd" "down-m")
      wait_for "$TMP/m-live.out" "down-m" 10 && ok "password file: M receives its downlink from ingestion" ||
        nok "password file: M receives its downlink from ingestion" "$out"
      # Decommissioning: the registry rewrites the file without the meter and sends SIGHUP.
      pwfile_remove "$M" || nok "password file: remove M's line"
      deadline=$(($(now_ms) + 10000))
      while pid_alive "${SUBS[m-live]}" && (($(now_ms) < deadline)); do sleep 0.05; done
      if pid_alive "${SUBS[m-live]}"; then nok "password file: removing M's line disconnects its live session"; else
        ok "password file: removing M's line (+ SIGHUP) disconnects its live session"
      fi
      unset 'SUBS[m-live]'
      out=$(as m mosquitto_pub -q 1 -i "$M" -t "mtr/v1/$M/up/x" -m x 2>&1) && nok "password file: removed M cannot connect" "$out" ||
        { [[ $out == *"not authori"* ]] && ok "password file: removed M cannot connect" || nok "password file: removed M cannot connect" "$out"; }
    else
      nok "password file: M subscribes to its downlink"
    fi
    out=$(pub ing "ingestion-selftest-$SUF" "mtr/v1/$MQTT_INGESTION_USERNAME/up/x" "x")
    denied "$out" && ok "password file: the acl_file patterns do not widen a service (ingestion may not publish mtr/v1/<its name>/up: its deny line)" ||
      nok "password file: the acl_file patterns do not widen a service" "$out"
    pwfile_remove "$M" "$N" || nok "password file: remove the test lines"
  else
    nok "password file: add test meters to $MQTT_PASSWORD_FILE"
  fi
else
  nok "the broker has the meters' listener on $MQTT_METER_PORT and the password file" "restart it: $SCRIPT_DIR/stack.sh stop mosquitto && $SCRIPT_DIR/stack.sh up"
fi

# ---- %u / %c in dynsec ACL topics
# (a topic outside the acl_file patterns, which would grant mtr/v1/<P>/up/# after dynsec defers)
dynsec_cmd '{"commands":[
  {"command":"createRole","rolename":"selftest-pattern:'"$P"'","acls":[
    {"acltype":"publishClientSend","topic":"selftest/%u/up/#","allow":true},
    {"acltype":"publishClientSend","topic":"selftest/%c/up/#","allow":true}]},
  {"command":"createClient","username":"'"$P"'","password":"'"$PW_P"'","roles":[{"rolename":"selftest-pattern:'"$P"'"}]}
]}' || nok "create the %u/%c probe client"
out=$(pub p "$P" "selftest/$P/up/x" "pattern")
if denied "$out"; then
  ok "dynsec does NOT substitute %u/%c in ACL topics (hence one role per meter)"
else
  nok "dynsec does NOT substitute %u/%c in ACL topics" "publish as $P to selftest/$P/up/x was accepted: README.md is out of date ($out)"
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
