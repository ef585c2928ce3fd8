#!/usr/bin/env bash
# shellcheck disable=SC2016 # single-quoted $CONTROL, $share, $$ and $1 are literal on purpose
# meterlink local infrastructure: Kafka (KRaft), Mosquitto (dynsec), Redis, PostgreSQL.
#
#   tools/stack/stack.sh up       start whatever is not running, wait until all is ready
#   tools/stack/stack.sh down     stop everything this stack started
#   tools/stack/stack.sh status   one line per component (exit 0 only if all are up)
#   tools/stack/stack.sh env      `export VAR=value` lines for the services
#   tools/stack/stack.sh reset    down + delete the state dir (not the download cache)
#   tools/stack/stack.sh stop C   stop one component (kafka|postgres|redis|mosquitto); `up` restarts it
#
# Mosquitto has three listeners: the services' (username/password), the meters' password listener
# (client id bound to the username) and MQTT over TLS with per-meter client certificates from a
# local device CA ($STATE/pki, see docs/device-identity.md). Services authenticate through the
# dynamic-security plugin, meters through the password file the registry writes (acl_file
# patterns confine them); see tools/stack/README.md.
#
# Everything runs as plain background processes (no Docker), bound to 127.0.0.1,
# on ports of its own, with state in ${METERLINK_STACK_DIR:-<repo>/.stack}.
# See tools/stack/README.md.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd -- "$SCRIPT_DIR/../.." && pwd)
STATE=$(realpath -m -- "${METERLINK_STACK_DIR:-$REPO_DIR/.stack}")
CACHE=$(realpath -m -- "${METERLINK_CACHE_DIR:-$HOME/.cache/meterlink}")
LOGS=$STATE/logs
RUN=$STATE/run
CONF=$STATE/conf
MARKER=$STATE/.meterlink-stack

BIND=127.0.0.1
COMPONENTS=(kafka postgres redis mosquitto)

KAFKA_VERSION=3.9.1
KAFKA_HOME=$CACHE/kafka-$KAFKA_VERSION
KAFKA_LIBS=$KAFKA_HOME/libs
KAFKA_DIR=$STATE/kafka
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}

MOSQ_DIR=$STATE/mosquitto
DYNSEC_FILE=$MOSQ_DIR/dynamic-security.json
MQTT_CLIENT_DIR=$STATE/mqtt-clients
# Meters' credentials (BROKER_CREDENTIALS=password-file): the registry rewrites this file from
# PostgreSQL and sends SIGHUP; the ACL patterns are tools/stack/mosquitto/meters.acl.
MQTT_PASSWORD_FILE=$MOSQ_DIR/meters.passwd
MQTT_ACL_FILE=$CONF/meters.acl
MQTT_BOOTSTRAP_DONE=$STATE/mosquitto.bootstrapped

REDIS_DIR=$STATE/redis

# Device PKI of the local stack: the device CA, the broker's server certificate and the CRL. The
# registry signs meter certificates with this CA (DEVICE_CA_DIR) and rewrites the CRL
# (DEVICE_CRL_FILE); selftest.sh issues its own test certificates from it.
PKI_DIR=$STATE/pki
PKI_CA_KEY=$PKI_DIR/ca.key.pem
PKI_CA_CERT=$PKI_DIR/ca.cert.pem
PKI_SERVER_KEY=$PKI_DIR/server.key.pem
PKI_SERVER_CERT=$PKI_DIR/server.cert.pem
PKI_SERVER_NAMES_FILE=$PKI_DIR/server.names
PKI_CRL=$PKI_DIR/crl.pem
PKI_CA_DAYS=3650
PKI_SERVER_DAYS=397
PKI_CRL_DAYS=30
# Names the broker's certificate is valid for (subjectAltName): DNS names and IP addresses.
MQTT_TLS_SERVER_NAMES=${MQTT_TLS_SERVER_NAMES:-localhost,127.0.0.1}

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_LOCATION_FILE=$STATE/postgres.location
PG_APP_USER=meterlink
PG_APP_PASSWORD=meterlink # dev stack only
PG_APP_DB=meterlink
# Owns the registry's and the orchestrator's schemas and runs their migrations
# (DATABASE_OWNER_URL); the services themselves run as PG_APP_USER, which may only INSERT into and
# SELECT from their audit_log and so can neither change the log nor drop its triggers.
PG_OWNER_USER=meterlink_owner
PG_OWNER_PASSWORD=meterlink_owner # dev stack only
PG_OWNED_SCHEMAS=(registry orchestrator)
PG_OWNER_DONE=$STATE/postgres.owner-role

CREDENTIALS=$STATE/credentials.env
MQTT_ADMIN_USERNAME=meterlink-admin
MQTT_INGESTION_USERNAME=meterlink-ingestion

READY_TIMEOUT=${STACK_READY_TIMEOUT:-120}
STOP_TIMEOUT=${STACK_STOP_TIMEOUT:-60}

PORT_VARS=(KAFKA_PORT KAFKA_CONTROLLER_PORT MQTT_PORT MQTT_TLS_PORT REDIS_PORT PG_PORT MQTT_METER_PORT)
# MQTT_METER_PORT (the meters' password listener) defaults to MQTT_PORT + 2, so stacks started
# with their own MQTT_PORT and MQTT_TLS_PORT (= MQTT_PORT + 1) do not collide on it.
declare -A PORT_DEFAULT=([KAFKA_PORT]=19092 [KAFKA_CONTROLLER_PORT]=19093 [MQTT_PORT]=11883 [MQTT_TLS_PORT]=18883 [REDIS_PORT]=16379 [PG_PORT]=15432 [MQTT_METER_PORT]=derived)
declare -A PROC_MATCH=([kafka]=kafka.Kafka [postgres]=postgres [redis]=redis-server [mosquitto]=mosquitto)

# --------------------------------------------------------------------------- helpers

log() { printf '[stack] %s\n' "$*"; }
warn() { printf '[stack] WARNING: %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

now_ms() { local t=${EPOCHREALTIME/./}; echo $((10#$t / 1000)); }
fmt_ms() { printf '%d.%ds' $(($1 / 1000)) $((($1 % 1000) / 100)); }

is_root() { ((EUID == 0)); }

# render TEMPLATE OUTPUT KEY=VALUE... : replace @KEY@ placeholders, refuse leftovers.
render() {
  local tmpl=$1 out=$2 content kv left
  shift 2
  content=$(<"$tmpl")
  for kv in "$@"; do
    content=${content//"@${kv%%=*}@"/"${kv#*=}"}
  done
  left=$(grep -o '@[A-Z0-9_]\+@' <<<"$content" | head -n1 || true)
  [[ -z $left ]] || die "template $tmpl: placeholder $left was not filled in"
  printf '%s\n' "$content" >"$out.tmp"
  mv -f -- "$out.tmp" "$out"
}

# Random alphanumeric secret (URL-safe, no quoting issues).
gen_secret() {
  local s=""
  while ((${#s} < 32)); do
    s+=$(head -c 48 /dev/urandom | base64 -w0 | tr -d '/+=')
  done
  printf '%s' "${s:0:32}"
}

tcp_open() { (exec 3<>"/dev/tcp/$BIND/$1") 2>/dev/null; }

# pid_alive PID [CMDLINE-SUBSTRING]: running (not a zombie) and, if given, the right program.
pid_alive() {
  local pid=$1 want=${2:-} cmd
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -e /proc/$pid/status ]] || return 1
  grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && return 1
  if [[ -n $want ]]; then
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
    [[ $cmd == *"$want"* ]] || return 1
  fi
  return 0
}

pid_file_of() {
  case $1 in
    postgres) echo "$PGDATA/postmaster.pid" ;;
    *) echo "$RUN/$1.pid" ;;
  esac
}

# comp_pid COMPONENT: print the pid if the component is running.
comp_pid() {
  local f pid
  f=$(pid_file_of "$1")
  [[ -r $f ]] || return 1
  pid=$(head -n1 -- "$f" 2>/dev/null | tr -dc '0-9')
  pid_alive "$pid" "${PROC_MATCH[$1]}" || return 1
  echo "$pid"
}

wait_pid_gone() { # pid timeout-seconds
  local pid=$1 deadline=$(($(now_ms) + $2 * 1000))
  while pid_alive "$pid"; do
    (($(now_ms) < deadline)) || return 1
    sleep 0.1
  done
}

comp_port() {
  case $1 in
    kafka) echo "$KAFKA_PORT" ;; postgres) echo "$PG_PORT" ;;
    redis) echo "$REDIS_PORT" ;; mosquitto) echo "$MQTT_PORT" ;;
  esac
}

comp_logs() {
  case $1 in
    kafka) echo "$LOGS/kafka.log $LOGS/kafka.out" ;;
    postgres) echo "$LOGS/postgres.log" ;;
    redis) echo "$LOGS/redis.log $LOGS/redis.out" ;;
    mosquitto) echo "$LOGS/mosquitto.log $LOGS/mosquitto.out" ;;
  esac
}

show_log_tail() {
  local f
  for f in $(comp_logs "$1"); do
    [[ -s $f ]] || continue
    printf '[stack] ---- last lines of %s ----\n' "$f" >&2
    tail -n 40 -- "$f" >&2 || true
  done
}

# Start a long-running foreground program detached (own session, no tty),
# with its pid in $RUN/NAME.pid and stdout/stderr appended to OUT.
launch_bg() { # name out cmd...
  local name=$1 out=$2 deadline
  shift 2
  rm -f -- "$RUN/$name.pid"
  # 8>&- 9>&-: the daemon must not inherit (and so keep holding) our lock files.
  setsid bash -c 'echo $$ >"$0"; exec nohup "$@"' "$RUN/$name.pid" "$@" >>"$out" 2>&1 </dev/null 8>&- 9>&- &
  deadline=$(($(now_ms) + 5000))
  until [[ -s $RUN/$name.pid ]]; do
    (($(now_ms) < deadline)) || die "$name: launcher did not write its pid file"
    sleep 0.05
  done
}

# --------------------------------------------------------------------------- state & ports

resolve_pg_dir() {
  if [[ -f $PG_LOCATION_FILE ]]; then
    PG_DIR=$(<"$PG_LOCATION_FILE")
  else
    PG_DIR=$STATE/postgres
  fi
  PGDATA=$PG_DIR/data
  PG_SOCK=$PG_DIR/run
}

load_ports() {
  local k v f=$STATE/ports.env
  declare -gA SAVED_PORT=()
  if [[ -f $f ]]; then
    while IFS='=' read -r k v; do
      [[ -n ${PORT_DEFAULT[$k]:-} ]] && SAVED_PORT[$k]=$v
    done <"$f"
  fi
  for k in "${PORT_VARS[@]}"; do
    # precedence: environment > value saved by the last `up` > default
    if [[ -z ${!k:-} ]]; then printf -v "$k" '%s' "${SAVED_PORT[$k]:-${PORT_DEFAULT[$k]}}"; fi
    if [[ $k == MQTT_METER_PORT && ${!k} == derived ]]; then MQTT_METER_PORT=$((MQTT_PORT + 2)); fi
    if ! [[ ${!k} =~ ^[0-9]+$ ]] || ((${!k} < 1 || ${!k} > 65535)); then die "$k=${!k} is not a valid port"; fi
  done
}

save_ports() {
  local k
  for k in "${PORT_VARS[@]}"; do printf '%s=%s\n' "$k" "${!k}"; done >"$STATE/ports.env.tmp"
  mv -f "$STATE/ports.env.tmp" "$STATE/ports.env"
}

prepare_state() {
  if [[ -d $STATE && ! -f $MARKER && -n $(ls -A -- "$STATE" 2>/dev/null) ]]; then
    die "$STATE exists, is not empty and was not created by this script (no $MARKER); refusing to use it"
  fi
  if ! mkdir -p -- "$STATE" 2>/dev/null || [[ ! -w $STATE ]]; then
    die "$STATE is not writable by $(id -un); point METERLINK_STACK_DIR somewhere writable"
  fi
  mkdir -p -- "$LOGS" "$RUN" "$CONF"
  [[ -f $MARKER ]] || echo "meterlink local stack state; safe to delete with tools/stack/stack.sh reset" >"$MARKER"
  # Keep the state dir out of git without touching the repo's .gitignore.
  [[ -f $STATE/.gitignore ]] || echo '*' >"$STATE/.gitignore"
}

take_lock() {
  exec 9>"$STATE/.lock"
  flock -w 600 9 || die "another stack.sh is still running against $STATE"
}

# --------------------------------------------------------------------------- dependencies

APT_UPDATED=0
apt_update_once() {
  ((APT_UPDATED)) && return 0
  log "apt-get update"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  APT_UPDATED=1
}

dynsec_plugin_path() {
  local p
  for p in /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so /usr/lib/*/mosquitto_dynamic_security.so \
    /usr/lib/mosquitto_dynamic_security.so /usr/local/lib/mosquitto_dynamic_security.so; do
    [[ -f $p ]] && { echo "$p"; return 0; }
  done
  return 1
}

resolve_pg_bin() {
  local d
  [[ -x $PG_BIN/initdb ]] && return 0
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
    [[ -x $d/initdb ]] && { PG_BIN=$d; return 0; }
  done
  return 1
}

java_bin() {
  if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then echo "$JAVA_HOME/bin/java"; else echo java; fi
}

kafka_libs_ok() {
  [[ -f $KAFKA_HOME/.complete && $(<"$KAFKA_HOME/.complete") == "$(sha256sum <"$SCRIPT_DIR/kafka/pom.xml" | cut -c1-64)" ]]
}

ensure_deps() {
  local pkgs=() missing=() major
  need() { command -v "$1" >/dev/null 2>&1 || { pkgs+=("$2"); missing+=("$1"); }; }
  need mosquitto mosquitto
  need mosquitto_ctrl mosquitto
  dynsec_plugin_path >/dev/null || { pkgs+=(mosquitto); missing+=(mosquitto_dynamic_security.so); }
  need mosquitto_sub mosquitto-clients
  need mosquitto_pub mosquitto-clients
  need mosquitto_rr mosquitto-clients
  need redis-server redis-server
  need openssl openssl
  need redis-cli redis-tools
  resolve_pg_bin || { pkgs+=(postgresql); missing+=(postgresql-server); }
  if [[ $(java_bin) == java ]]; then need java openjdk-17-jre-headless; fi
  kafka_libs_ok || need mvn maven
  if ((${#pkgs[@]})); then
    mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
    if ! is_root; then
      die "missing ${missing[*]}; install with: sudo apt-get install -y ${pkgs[*]}"
    fi
    apt_update_once
    log "apt-get install -y ${pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >"$LOGS/apt.log" 2>&1 ||
      { tail -n 20 "$LOGS/apt.log" >&2; die "apt-get install failed (see $LOGS/apt.log)"; }
    resolve_pg_bin || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
  fi
  major=$("$(java_bin)" -version 2>&1 | sed -n 's/.*version "\([0-9]*\)[."].*/\1/p' | head -n1)
  [[ ${major:-0} -ge 11 ]] || die "Kafka $KAFKA_VERSION needs Java 11+ (found: ${major:-none}); install openjdk-17-jre-headless"
  # kcat: handy Kafka CLI, best effort, tried once per cache dir.
  if ! command -v kcat >/dev/null 2>&1 && is_root && [[ ! -f $CACHE/.kcat-tried ]]; then
    mkdir -p "$CACHE"
    touch "$CACHE/.kcat-tried"
    if { apt_update_once && apt-cache show kcat >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >>"$LOGS/apt.log" 2>&1; }; then
      log "installed kcat"
    else
      warn "kcat could not be installed (optional, ignored)"
    fi
  fi
}

# --------------------------------------------------------------------------- kafka

kafka_fetch() {
  kafka_libs_ok && return 0
  local t0 hash
  t0=$(now_ms)
  mkdir -p "$KAFKA_HOME"
  exec 8>"$KAFKA_HOME/.lock"
  flock -w 900 8 || die "kafka: another process is fetching into $KAFKA_HOME"
  if ! kafka_libs_ok; then
    log "kafka: fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
    rm -rf -- "$KAFKA_LIBS.tmp"
    # shellcheck disable=SC2086 # METERLINK_MVN_ARGS is a list of extra maven arguments
    if ! (cd "$SCRIPT_DIR/kafka" && mvn -q -B ${METERLINK_MVN_ARGS:-} -f "$SCRIPT_DIR/kafka/pom.xml" \
      dependency:copy-dependencies -DoutputDirectory="$KAFKA_LIBS.tmp") >"$LOGS/kafka-fetch.log" 2>&1; then
      tail -n 30 "$LOGS/kafka-fetch.log" >&2
      die "kafka: maven could not fetch the Kafka jars (log: $LOGS/kafka-fetch.log)"
    fi
    local j
    for j in "kafka_2.13-$KAFKA_VERSION.jar" "kafka-server-$KAFKA_VERSION.jar" "kafka-storage-$KAFKA_VERSION.jar" \
      "kafka-tools-$KAFKA_VERSION.jar" slf4j-reload4j-1.7.36.jar reload4j-1.2.25.jar; do
      [[ -f $KAFKA_LIBS.tmp/$j ]] || die "kafka: $j missing after the maven fetch"
    done
    rm -rf -- "$KAFKA_LIBS"
    mv -- "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
    hash=$(sha256sum <"$SCRIPT_DIR/kafka/pom.xml" | cut -c1-64)
    echo "$hash" >"$KAFKA_HOME/.complete"
    log "kafka: fetched $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars in $(fmt_ms $(($(now_ms) - t0)))"
  fi
  exec 8>&-
}

# Command prefix for short-lived Kafka tool JVMs (quiet logging, small heap).
kafka_tool_cmd() {
  KAFKA_TOOL=("$(java_bin)" -Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$CONF/kafka-tools-log4j.properties" -cp "$KAFKA_LIBS/*")
}
kafka_java() { kafka_tool_cmd; "${KAFKA_TOOL[@]}" "$@"; }

kafka_write_config() {
  mkdir -p "$KAFKA_DIR/data"
  cat >"$CONF/kafka-server.properties.tmp" <<EOF
# GENERATED by tools/stack/stack.sh on every start - do not edit.
# Apache Kafka $KAFKA_VERSION, KRaft, single node acting as broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$BIND:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$BIND:$KAFKA_PORT,CONTROLLER://$BIND:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$BIND:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
EOF
  mv -f "$CONF/kafka-server.properties.tmp" "$CONF/kafka-server.properties"
  render "$SCRIPT_DIR/kafka/log4j.properties.tmpl" "$CONF/kafka-log4j.properties" "LOG_FILE=$LOGS/kafka.log"
  cat >"$CONF/kafka-tools-log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
  printf 'request.timeout.ms=5000\ndefault.api.timeout.ms=10000\n' >"$CONF/kafka-probe.properties"
}

# A Kafka cluster id is a random 16-byte UUID in URL-safe base64 without
# padding (what `kafka-storage random-uuid` prints); like Kafka's
# Uuid.randomUuid() we avoid ids starting with '-' (they look like options).
# Made here rather than with that tool to save a JVM start.
kafka_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')
    [[ $id == -* || ${#id} -ne 22 ]] || break
  done
  echo "$id"
}

# Application class-data sharing for the broker JVM: the first broker run
# records the classes it loaded into an archive when it exits (on `down`);
# later starts map that archive and start ~40% faster (measured 7.5 s -> 3.4-4.8 s
# on a loaded 2-core box). Keyed by JVM build and jar set; a stale or partial
# archive is ignored by the JVM (-Xshare:auto). METERLINK_KAFKA_CDS=0 disables.
kafka_cds_opts() { # sets KAFKA_CDS_OPTS
  KAFKA_CDS_OPTS=()
  [[ ${METERLINK_KAFKA_CDS:-1} == 1 ]] || return 0
  local key jsa
  key=$({ "$(java_bin)" -Xshare:auto -version 2>&1; cat "$KAFKA_HOME/.complete"; } | sha256sum | cut -c1-12)
  jsa=$KAFKA_HOME/broker-$key.jsa
  if [[ -s $jsa.new && ! -f $jsa ]]; then mv -f -- "$jsa.new" "$jsa"; fi
  if [[ -f $jsa ]]; then
    KAFKA_CDS_OPTS=("-XX:SharedArchiveFile=$jsa")
  else
    KAFKA_CDS_OPTS=("-XX:ArchiveClassesAtExit=$jsa.new")
  fi
  KAFKA_CDS_OPTS+=('-Xlog:cds*=off') # else ~100 "class not archived" warnings at every dump
}

kafka_start() {
  kafka_write_config
  if [[ ! -f $KAFKA_DIR/data/meta.properties ]]; then
    local cid
    if [[ -s $KAFKA_DIR/cluster.id ]]; then
      cid=$(<"$KAFKA_DIR/cluster.id")
    else
      cid=$(kafka_cluster_id)
      echo "$cid" >"$KAFKA_DIR/cluster.id"
    fi
    kafka_java kafka.tools.StorageTool format -t "$cid" -c "$CONF/kafka-server.properties" --ignore-formatted \
      >>"$LOGS/kafka.out" 2>&1 || { show_log_tail kafka; die "kafka: storage format failed"; }
    log "kafka: formatted storage in $KAFKA_DIR/data (cluster id $cid)"
  fi
  kafka_cds_opts
  # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS is a list
  launch_bg kafka "$LOGS/kafka.out" "$(java_bin)" $KAFKA_HEAP_OPTS -server "${KAFKA_CDS_OPTS[@]}" \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true -Dkafka.logs.dir="$LOGS" \
    -Dlog4j.configuration="file:$CONF/kafka-log4j.properties" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$CONF/kafka-server.properties"
}

# Ready = the broker answers a real Metadata request and lists itself as a live
# broker. In KRaft the broker only starts processing requests once it has
# caught up with the metadata log and been unfenced by the controller, so this
# is more than "port open". kcat (milliseconds) when installed, otherwise
# Kafka's own TopicCommand --list (a JVM start: 1-2 s per poll).
kafka_probe() {
  tcp_open "$KAFKA_PORT" || return 1
  if command -v kcat >/dev/null 2>&1; then
    timeout 10 kcat -b "$BIND:$KAFKA_PORT" -L -m 5 2>/dev/null | grep -q "broker 1 at $BIND:$KAFKA_PORT"
  else
    kafka_tool_cmd
    timeout 30 "${KAFKA_TOOL[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BIND:$KAFKA_PORT" \
      --command-config "$CONF/kafka-probe.properties" --list >/dev/null 2>&1
  fi
}

# --------------------------------------------------------------------------- redis

redis_start() {
  mkdir -p "$REDIS_DIR"
  render "$SCRIPT_DIR/redis/redis.conf.tmpl" "$CONF/redis.conf" \
    "BIND=$BIND" "REDIS_PORT=$REDIS_PORT" "PID_FILE=$RUN/redis.pid" "LOG_FILE=$LOGS/redis.log" "REDIS_DIR=$REDIS_DIR"
  rm -f -- "$RUN/redis.pid"
  redis-server "$CONF/redis.conf" >>"$LOGS/redis.out" 2>&1 </dev/null 8>&- 9>&- || { show_log_tail redis; die "redis: redis-server failed to start"; }
}

redis_probe() {
  [[ $(timeout 5 redis-cli -h "$BIND" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

# --------------------------------------------------------------------------- mosquitto

mosq_run_user() {
  if ! is_root; then id -un; return; fi
  if id mosquitto >/dev/null 2>&1 && runuser -u mosquitto -- test -x "$STATE" 2>/dev/null; then
    echo mosquitto
  else
    echo root
  fi
}

load_credentials() {
  [[ -f $CREDENTIALS ]] || return 1
  MQTT_ADMIN_PASSWORD=$(sed -n 's/^MQTT_ADMIN_PASSWORD=//p' "$CREDENTIALS")
  MQTT_INGESTION_PASSWORD=$(sed -n 's/^MQTT_INGESTION_PASSWORD=//p' "$CREDENTIALS")
  [[ -n $MQTT_ADMIN_PASSWORD && -n $MQTT_INGESTION_PASSWORD ]]
}

ensure_credentials() {
  load_credentials && return 0
  (
    umask 077
    {
      echo "# meterlink local stack MQTT credentials - generated once, keep private"
      echo "MQTT_ADMIN_USERNAME=$MQTT_ADMIN_USERNAME"
      echo "MQTT_ADMIN_PASSWORD=$(gen_secret)"
      echo "MQTT_INGESTION_USERNAME=$MQTT_INGESTION_USERNAME"
      echo "MQTT_INGESTION_PASSWORD=$(gen_secret)"
    } >"$CREDENTIALS.tmp"
    mv -f "$CREDENTIALS.tmp" "$CREDENTIALS"
  )
  chmod 600 "$CREDENTIALS"
  load_credentials || die "could not write $CREDENTIALS"
}

# Options files for the mosquitto client programs ($XDG_CONFIG_HOME/<program>):
# host, port and credentials come from there, so passwords never appear on a
# command line (visible in ps).
mq_write_opts() { # user password
  local dir=$MQTT_CLIENT_DIR/$1 prog
  (
    umask 077
    mkdir -p "$dir"
    for prog in mosquitto_rr mosquitto_sub mosquitto_pub; do
      printf -- '-h %s\n-p %s\n-u %s\n-P %s\n' "$BIND" "$MQTT_PORT" "$1" "$2" >"$dir/$prog"
    done
  )
}

# dynsec_cmd JSON: send one dynsec control message ({"commands":[...]}) as the
# dynsec admin and wait for its response; fails if any command returned an error.
# The response is left in DYNSEC_RESPONSE.
# (mosquitto_rr would be the obvious tool, but in 2.0.11 `mosquitto_rr -f/-s`
# publishes an empty payload, and -m would put passwords on the command line;
# so: subscribe to the response topic, then mosquitto_pub -f, and match the
# response by correlationData, because other admin clients share that topic.)
dynsec_cmd() {
  local json dir=$MQTT_CLIENT_DIR/$MQTT_ADMIN_USERNAME corr payload out subpid deadline resp="" rc=0
  corr=stack-$$-$RANDOM$RANDOM
  json=$(tr '\n' ' ' <<<"$1" | sed -E 's/\}[[:space:]]*\][[:space:]]*\}[[:space:]]*$/,"correlationData":"'"$corr"'"}]}/')
  [[ $json == *"$corr"* ]] || { echo "dynsec_cmd: payload must be {\"commands\":[...]}" >&2; return 1; }
  payload=$(umask 077 && mktemp "$MQTT_CLIENT_DIR/cmd.XXXXXX")
  out=$(umask 077 && mktemp "$MQTT_CLIENT_DIR/resp.XXXXXX")
  printf '%s' "$json" >"$payload"
  XDG_CONFIG_HOME=$dir stdbuf -oL mosquitto_sub -d -W 30 -t '$CONTROL/dynamic-security/v1/response' >"$out" 2>&1 8>&- 9>&- &
  subpid=$!
  deadline=$(($(now_ms) + 10000))
  until grep -q '^Subscribed (mid' "$out"; do
    if ! pid_alive "$subpid" || (($(now_ms) > deadline)); then rc=1; break; fi
    sleep 0.05
  done
  if ((rc == 0)); then
    XDG_CONFIG_HOME=$dir mosquitto_pub -q 1 -t '$CONTROL/dynamic-security/v1' -f "$payload" || rc=1
  fi
  rm -f -- "$payload"
  if ((rc == 0)); then
    deadline=$(($(now_ms) + 15000))
    until resp=$(grep -F "\"correlationData\":\"$corr\"" "$out"); do
      if ! pid_alive "$subpid" || (($(now_ms) > deadline)); then rc=1; break; fi
      sleep 0.05
    done
  fi
  kill "$subpid" 2>/dev/null || true
  wait "$subpid" 2>/dev/null || true
  if ((rc != 0)); then
    echo "dynsec: no response to the control message (${#json} bytes; the broker drops messages over message_size_limit=32768)" >&2
    grep -v '^{' "$out" >&2 || true
    rm -f -- "$out"
    return 1
  fi
  rm -f -- "$out"
  DYNSEC_RESPONSE=$resp # for callers (selftest.sh)
  export DYNSEC_RESPONSE
  if [[ $resp == *'"error"'* ]]; then
    echo "dynsec: $resp" >&2
    return 1
  fi
}

# --------------------------------------------------------------------------- device PKI (openssl)
# The stack makes its device CA with the openssl CLI rather than with the registry's code, so the
# broker's TLS listener can start before anything is built; the layout is the one the registry's
# FileDeviceCaStore reads (PKCS#8 PEM key, mode 600, and PEM certificate).

pki_serial() { # 128 random bits, first octet 0x40..0x7f (positive, fixed length), upper-case hex
  local hex
  hex=$(openssl rand -hex 16)
  printf '%X%s' $(((16#${hex:0:2} & 0x3f) | 0x40)) "${hex:2}" | tr '[:lower:]' '[:upper:]'
}

pki_new_key() { # file: an ECDSA P-256 key, PKCS#8 PEM, mode 600
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.tmp" 2>/dev/null) &&
    mv -f -- "$1.tmp" "$1"
}

pki_create_ca() {
  local cnf rc=0
  cnf=$(mktemp)
  cat >"$cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca_ext
[dn]
CN = meterlink local stack device CA
[ca_ext]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
EOF
  pki_new_key "$PKI_CA_KEY" &&
    openssl req -x509 -new -config "$cnf" -key "$PKI_CA_KEY" -sha256 -days "$PKI_CA_DAYS" \
      -set_serial "0x$(pki_serial)" -out "$PKI_CA_CERT.tmp" 2>/dev/null &&
    chmod 644 "$PKI_CA_CERT.tmp" && mv -f -- "$PKI_CA_CERT.tmp" "$PKI_CA_CERT" || rc=1
  rm -f -- "$cnf"
  return $rc
}

# pki_issue CN OUT-PREFIX DAYS PURPOSE [SAN]: OUT-PREFIX.key.pem + OUT-PREFIX.cert.pem signed by
# the device CA, for PURPOSE clientAuth (a meter: CN = meterId) or serverAuth (the broker).
# Prints the serial number (upper-case hex).
pki_issue() {
  local cn=$1 out=$2 days=$3 purpose=$4 san=${5:-} serial tmp rc=0
  tmp=$(mktemp -d)
  serial=$(pki_serial)
  {
    echo 'basicConstraints = critical,CA:FALSE'
    echo 'keyUsage = critical,digitalSignature'
    echo "extendedKeyUsage = $purpose"
    echo 'subjectKeyIdentifier = hash'
    echo 'authorityKeyIdentifier = keyid'
    [[ -z $san ]] || echo "subjectAltName = $san"
  } >"$tmp/ext"
  if pki_new_key "$out.key.pem" &&
    openssl req -new -key "$out.key.pem" -subj "/CN=$cn" -out "$tmp/csr" 2>/dev/null &&
    openssl x509 -req -in "$tmp/csr" -CA "$PKI_CA_CERT" -CAkey "$PKI_CA_KEY" -set_serial "0x$serial" \
      -days "$days" -sha256 -extfile "$tmp/ext" -out "$out.cert.pem" 2>/dev/null; then
    chmod 644 "$out.cert.pem"
    echo "$serial"
  else
    rc=1
  fi
  rm -rf -- "$tmp"
  return $rc
}

# Revoked entries of a CRL, one per line: SERIAL YYMMDDHHMMSSZ[,reason] (openssl ca index form).
pki_crl_entries() {
  openssl crl -in "$1" -noout -text | awk '
    function flush() { if (serial != "") print serial, date reason; serial = ""; date = ""; reason = "" }
    /^ *Serial Number:/ { flush(); serial = $3 }
    /^ *Revocation Date:/ {
      sub(/^ *Revocation Date: */, "")
      cmd = "date -u -d \"" $0 "\" +%y%m%d%H%M%SZ"; cmd | getline date; close(cmd)
    }
    /CRL Reason Code/ {
      getline; gsub(/^ +| +$/, ""); gsub(/ /, "")
      r = tolower(substr($0, 1, 1)) substr($0, 2)
      # only the reasons `openssl ca` knows
      if (r ~ /^(unspecified|keyCompromise|affiliationChanged|superseded|cessationOfOperation)$/) reason = "," r
    }
    END { flush() }'
}

# pki_write_crl [SERIAL...]: a new CRL signed by the device CA, valid PKI_CRL_DAYS, holding every
# entry of the current CRL (the registry's revocations) plus SERIALs; the CRL number goes up. It
# replaces crl.pem atomically: mosquitto 2.0.11 drops revocation checking altogether when it reads
# a missing or broken CRL at a reload. The caller sends SIGHUP if the broker runs.
pki_write_crl() {
  local tmp serial line number=1 rc=0
  tmp=$(mktemp -d "$PKI_DIR/.crl.XXXXXX")
  : >"$tmp/index.txt"
  echo 'unique_subject = no' >"$tmp/index.txt.attr"
  if [[ -s $PKI_CRL ]]; then
    while read -r line; do
      printf 'R\t491231235959Z\t%s\t%s\tunknown\t/CN=revoked\n' "${line#* }" "${line%% *}" >>"$tmp/index.txt"
    done < <(pki_crl_entries "$PKI_CRL")
    number=$(openssl crl -in "$PKI_CRL" -noout -crlnumber | sed -n 's/^crlNumber=//p')
    number=$((${number:-0} + 1))
  fi
  for serial in "$@"; do
    printf 'R\t491231235959Z\t%s,keyCompromise\t%s\tunknown\t/CN=revoked\n' \
      "$(date -u +%y%m%d%H%M%SZ)" "${serial^^}" >>"$tmp/index.txt"
  done
  printf '%X\n' "$number" | sed -E 's/^(.(..)*)$/0\1/' >"$tmp/crlnumber"
  cat >"$tmp/ca.cnf" <<EOF
[ca]
default_ca = stack
[stack]
database = $tmp/index.txt
crlnumber = $tmp/crlnumber
default_md = sha256
default_crl_days = $PKI_CRL_DAYS
crl_extensions = crl_ext
[crl_ext]
authorityKeyIdentifier = keyid:always
EOF
  if openssl ca -batch -config "$tmp/ca.cnf" -gencrl -keyfile "$PKI_CA_KEY" -cert "$PKI_CA_CERT" \
    -out "$tmp/crl.pem" >"$tmp/log" 2>&1 &&
    openssl crl -in "$tmp/crl.pem" -CAfile "$PKI_CA_CERT" -noout >>"$tmp/log" 2>&1; then
    chmod 644 "$tmp/crl.pem"
    mv -f -- "$tmp/crl.pem" "$PKI_CRL"
  else
    cat "$tmp/log" >&2
    rc=1
  fi
  rm -rf -- "$tmp"
  return $rc
}

# Seconds until the CRL's nextUpdate (negative once expired, or unreadable).
pki_crl_remaining_s() {
  local next
  next=$(openssl crl -in "$PKI_CRL" -noout -nextupdate 2>/dev/null | sed -n 's/^nextUpdate=//p')
  [[ -n $next ]] || { echo -1; return; }
  echo $(($(date -u -d "$next" +%s) - $(date +%s)))
}

# Tells a running broker to re-read its certificates and the CRL.
pki_reload_broker() {
  local pid
  if pid=$(comp_pid mosquitto); then kill -HUP "$pid"; fi
}

# CA (kept), broker certificate (renewed when it nears expiry, or the CA or the names changed)
# and CRL (re-signed with the same entries when it nears nextUpdate).
pki_prepare() { # run-user of the broker
  local user=$1 san="" first="" n names
  mkdir -p "$PKI_DIR"
  chmod 755 "$PKI_DIR"
  if [[ ! -e $PKI_CA_KEY && ! -e $PKI_CA_CERT ]]; then
    pki_create_ca || die "pki: could not create the device CA in $PKI_DIR"
    log "pki: created the local device CA ($PKI_CA_CERT)"
  elif [[ ! -e $PKI_CA_KEY || ! -e $PKI_CA_CERT ]]; then
    die "pki: $PKI_DIR holds only half of the device CA ($PKI_CA_KEY, $PKI_CA_CERT); restore it or run: $0 reset"
  fi
  chmod 600 "$PKI_CA_KEY"
  if [[ ! -s $PKI_SERVER_CERT || ! -s $PKI_SERVER_KEY || $(cat "$PKI_SERVER_NAMES_FILE" 2>/dev/null) != "$MQTT_TLS_SERVER_NAMES" ]] ||
    ! openssl x509 -in "$PKI_SERVER_CERT" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 ||
    ! openssl verify -purpose sslserver -CAfile "$PKI_CA_CERT" "$PKI_SERVER_CERT" >/dev/null 2>&1; then
    IFS=',' read -ra names <<<"$MQTT_TLS_SERVER_NAMES"
    for n in "${names[@]}"; do
      [[ -n $n ]] || continue
      if [[ $n =~ ^[0-9.]+$ || $n == *:* ]]; then
        san+="${san:+,}IP:$n"
      else
        san+="${san:+,}DNS:$n"
        [[ -n $first ]] || first=$n
      fi
    done
    [[ -n $san ]] || die "pki: MQTT_TLS_SERVER_NAMES is empty"
    pki_issue "${first:-localhost}" "$PKI_DIR/server" "$PKI_SERVER_DAYS" serverAuth "$san" >/dev/null ||
      die "pki: could not issue the broker's server certificate"
    echo "$MQTT_TLS_SERVER_NAMES" >"$PKI_SERVER_NAMES_FILE"
    log "pki: issued the broker's TLS certificate for $MQTT_TLS_SERVER_NAMES"
  fi
  # The broker re-reads its key at SIGHUP, after it dropped root.
  if [[ $user != root ]] && is_root; then chown "$user:" "$PKI_SERVER_KEY"; fi
  chmod 600 "$PKI_SERVER_KEY"
  if [[ ! -s $PKI_CRL ]] || (($(pki_crl_remaining_s) < 7 * 86400)); then
    pki_write_crl || die "pki: could not write the CRL $PKI_CRL"
  fi
}

mosq_prepare() {
  local user plugin
  plugin=$(dynsec_plugin_path) || die "mosquitto: dynamic security plugin not found"
  user=$(mosq_run_user)
  mkdir -p "$MOSQ_DIR"
  (umask 077 && mkdir -p "$MQTT_CLIENT_DIR")
  # A dynsec file without a completed bootstrap is half-initialised: start over.
  if [[ -f $DYNSEC_FILE && ! -f $MQTT_BOOTSTRAP_DONE ]]; then
    rm -f -- "$DYNSEC_FILE"
  fi
  if [[ ! -f $DYNSEC_FILE ]]; then
    ensure_credentials
    printf '%s\n%s\n' "$MQTT_ADMIN_PASSWORD" "$MQTT_ADMIN_PASSWORD" |
      mosquitto_ctrl dynsec init "$DYNSEC_FILE" "$MQTT_ADMIN_USERNAME" >/dev/null ||
      die "mosquitto: mosquitto_ctrl dynsec init failed"
    chmod 600 "$DYNSEC_FILE"
    MQTT_NEEDS_BOOTSTRAP=1
  fi
  load_credentials || die "mosquitto: $DYNSEC_FILE exists but $CREDENTIALS is missing; run: $0 reset"
  mq_write_opts "$MQTT_ADMIN_USERNAME" "$MQTT_ADMIN_PASSWORD"
  touch "$LOGS/mosquitto.log"
  if [[ $user != root ]] && is_root; then
    chown -R "$user:" "$MOSQ_DIR" "$LOGS/mosquitto.log"
  fi
  chmod 700 "$MOSQ_DIR"
  pki_prepare "$user"
  # The meters' password file: empty until the registry first writes it (which it does at every
  # start). It keeps the broker user as owner across the registry's rewrites.
  if [[ ! -f $MQTT_PASSWORD_FILE ]]; then
    (umask 077 && : >"$MQTT_PASSWORD_FILE")
    if [[ $user != root ]] && is_root; then chown "$user:" "$MQTT_PASSWORD_FILE"; fi
  fi
  cp -f -- "$SCRIPT_DIR/mosquitto/meters.acl" "$MQTT_ACL_FILE.tmp"
  chmod 644 "$MQTT_ACL_FILE.tmp"
  mv -f -- "$MQTT_ACL_FILE.tmp" "$MQTT_ACL_FILE"
  render "$SCRIPT_DIR/mosquitto/mosquitto.conf.tmpl" "$CONF/mosquitto.conf" \
    "MQTT_PORT=$MQTT_PORT" "MQTT_TLS_PORT=$MQTT_TLS_PORT" "MQTT_METER_PORT=$MQTT_METER_PORT" "PKI_DIR=$PKI_DIR" \
    "PASSWORD_FILE=$MQTT_PASSWORD_FILE" "ACL_FILE=$MQTT_ACL_FILE" \
    "BIND=$BIND" "DYNSEC_PLUGIN=$plugin" "DYNSEC_FILE=$DYNSEC_FILE" \
    "RUN_USER=$user" "MOSQ_DIR=$MOSQ_DIR" "LOG_FILE=$LOGS/mosquitto.log"
  chmod 644 "$CONF/mosquitto.conf"
}

mosq_start() {
  mosq_prepare
  launch_bg mosquitto "$LOGS/mosquitto.out" mosquitto -c "$CONF/mosquitto.conf"
}

# The running broker's config has the TLS listener (one started by an older stack.sh has not).
mosq_has_tls() { grep -q "^listener $MQTT_TLS_PORT " "$CONF/mosquitto.conf" 2>/dev/null; }

# The running broker's config reads the registry's password file and has the meters' listener.
mosq_has_password_file() {
  grep -q "^password_file $MQTT_PASSWORD_FILE\$" "$CONF/mosquitto.conf" 2>/dev/null &&
    grep -q "^listener $MQTT_METER_PORT " "$CONF/mosquitto.conf" 2>/dev/null
}

# Ready = an authenticated client (the dynsec admin) can connect and subscribe, and the TLS
# listener accepts connections.
mosq_probe() {
  tcp_open "$MQTT_PORT" || return 1
  if mosq_has_tls; then tcp_open "$MQTT_TLS_PORT" || return 1; fi
  if mosq_has_password_file; then tcp_open "$MQTT_METER_PORT" || return 1; fi
  load_credentials || return 1
  mq_write_opts "$MQTT_ADMIN_USERNAME" "$MQTT_ADMIN_PASSWORD"
  timeout 10 bash -c 'XDG_CONFIG_HOME="$1" mosquitto_sub -E -W 5 -t "\$CONTROL/dynamic-security/v1/response"' _ \
    "$MQTT_CLIENT_DIR/$MQTT_ADMIN_USERNAME" >/dev/null 2>&1
}

# dynsec_send_nowait JSON: publish a control message without waiting for the
# response. For commands that make the broker disconnect the admin itself
# (changing the default ACL access or the admin's own role kicks the affected
# clients), whose response therefore can never be delivered.
dynsec_send_nowait() {
  local payload dir=$MQTT_CLIENT_DIR/$MQTT_ADMIN_USERNAME
  payload=$(umask 077 && mktemp "$MQTT_CLIENT_DIR/cmd.XXXXXX")
  printf '%s' "$1" >"$payload"
  XDG_CONFIG_HOME=$dir mosquitto_pub -q 1 -t '$CONTROL/dynamic-security/v1' -f "$payload" >/dev/null 2>&1 || true
  rm -f -- "$payload"
}

# First start only: lock the broker down and create the service clients.
mosq_bootstrap() {
  local policy=$SCRIPT_DIR/mosquitto/policy acltype resp
  # 1. Deny by default; the admin role keeps only the dynsec control topics
  #    (and $SYS), it may not read application traffic ("#" is removed).
  #    The policy files are shared with docker-compose and the Testcontainers harness.
  dynsec_send_nowait "$(<"$policy/lockdown.json")"
  # 2. The ingestion role, the ingestion service client, then read everything back.
  dynsec_cmd "$(<"$policy/ingestion-role.json")" || return 1
  dynsec_cmd '{"commands":[
    {"command":"createClient","username":"'"$MQTT_INGESTION_USERNAME"'","password":"'"$MQTT_INGESTION_PASSWORD"'",
     "textname":"meterlink ingestion service","roles":[{"rolename":"ingestion","priority":0}]},
    {"command":"getDefaultACLAccess"},
    {"command":"getRole","rolename":"admin"}
  ]}' || return 1
  resp=$DYNSEC_RESPONSE
  for acltype in publishClientSend publishClientReceive subscribe unsubscribe; do
    if [[ $resp != *"{\"acltype\":\"$acltype\",\"allow\":false}"* ]]; then
      echo "dynsec: default access for $acltype is not deny: $resp" >&2
      return 1
    fi
  done
  if [[ $resp == *'"topic":"#"'* ]]; then
    echo "dynsec: admin role still has ACLs on '#': $resp" >&2
    return 1
  fi
}

# --------------------------------------------------------------------------- postgres

pg_run() { # run a PostgreSQL program as the cluster owner
  if is_root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_superuser() { if is_root; then echo postgres; else id -un; fi; }

pg_choose_dir() {
  [[ -f $PG_LOCATION_FILE ]] && return 0
  local dir=$STATE/postgres
  if is_root && ! runuser -u postgres -- test -x "$STATE" 2>/dev/null; then
    dir=/tmp/meterlink-pg-$(printf '%s' "$STATE" | sha256sum | cut -c1-12)
    log "postgres: user 'postgres' cannot reach $STATE, the cluster goes to $dir"
  fi
  echo "$dir" >"$PG_LOCATION_FILE"
  resolve_pg_dir
}

pg_init() {
  pg_choose_dir
  [[ -f $PGDATA/PG_VERSION ]] && return 0
  rm -rf -- "$PG_DIR"
  mkdir -p "$PG_DIR/run" "$PG_DIR/log"
  is_root && chown -R postgres:postgres "$PG_DIR"
  chmod 700 "$PG_DIR"
  log "postgres: initdb $PGDATA"
  pg_run "$PG_BIN/initdb" -D "$PGDATA" -U "$(pg_superuser)" -E UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >"$PG_DIR/log/initdb.log" 2>&1 ||
    { cat "$PG_DIR/log/initdb.log" >&2; die "postgres: initdb failed"; }
  cat >"$PGDATA/pg_hba.conf" <<'EOF'
# GENERATED by tools/stack/stack.sh (meterlink local stack)
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  peer
host    all       all   127.0.0.1/32   scram-sha-256
EOF
  echo "include_if_exists = 'meterlink.conf'  # added by tools/stack/stack.sh" >>"$PGDATA/postgresql.conf"
  is_root && chown postgres:postgres "$PGDATA/pg_hba.conf" "$PGDATA/postgresql.conf"
  return 0
}

pg_start() {
  pg_init
  local sock=$PG_SOCK
  cat >"$PGDATA/meterlink.conf" <<EOF
# GENERATED by tools/stack/stack.sh on every start - do not edit.
listen_addresses = '$BIND'
port = $PG_PORT
unix_socket_directories = '$sock'
max_connections = 200
shared_buffers = 128MB
fsync = on
synchronous_commit = on
password_encryption = scram-sha-256
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  is_root && chown postgres:postgres "$PGDATA/meterlink.conf"
  ln -sfn "$PG_DIR/log/postgres.log" "$LOGS/postgres.log"
  pg_run "$PG_BIN/pg_ctl" start -D "$PGDATA" -l "$PG_DIR/log/postgres.log" -W -s </dev/null >/dev/null 8>&- 9>&- ||
    { show_log_tail postgres; die "postgres: pg_ctl start failed"; }
}

pg_probe() {
  "$PG_BIN/pg_isready" -q -h "$BIND" -p "$PG_PORT" -t 2
}

pg_su_psql() {
  pg_run "$PG_BIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -U "$(pg_superuser)" -d postgres -v ON_ERROR_STOP=1 -qAtX "$@"
}

pg_ensure_app_db() {
  if [[ $(pg_su_psql -c "select 1 from pg_roles where rolname = '$PG_APP_USER'") != 1 ]]; then
    pg_su_psql -c "create role $PG_APP_USER login password '$PG_APP_PASSWORD'" >/dev/null
  fi
  if [[ $(pg_su_psql -c "select 1 from pg_database where datname = '$PG_APP_DB'") != 1 ]]; then
    pg_su_psql -c "create database $PG_APP_DB owner $PG_APP_USER" >/dev/null
  fi
  pg_ensure_owner_role || return 1
  : >"$PG_OWNER_DONE"
  # The real check: the application's own credentials over TCP.
  [[ $(PGPASSWORD=$PG_APP_PASSWORD PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -h "$BIND" -p "$PG_PORT" \
    -U "$PG_APP_USER" -d "$PG_APP_DB" -qAtX -c 'select 1' 2>&1) == 1 ]]
}

# The schema owner role (DATABASE_OWNER_URL), which runs the owned schemas' migrations. A schema
# made by an older stack's service belongs to the app role: it is handed over with everything in
# it, and the service grants the app role back what it needs at its next start.
pg_ensure_owner_role() {
  local schema
  if [[ $(pg_su_psql -c "select 1 from pg_roles where rolname = '$PG_OWNER_USER'") != 1 ]]; then
    pg_su_psql -c "create role $PG_OWNER_USER login password '$PG_OWNER_PASSWORD'" >/dev/null
  fi
  pg_su_psql -c "grant connect, create on database $PG_APP_DB to $PG_OWNER_USER" >/dev/null
  for schema in "${PG_OWNED_SCHEMAS[@]}"; do
    pg_run "$PG_BIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -U "$(pg_superuser)" -d "$PG_APP_DB" \
      -v ON_ERROR_STOP=1 -qAtX >/dev/null <<SQL || return 1
DO \$\$
DECLARE
  r record;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '$schema' AND nspowner <> '$PG_OWNER_USER'::regrole) THEN
    ALTER SCHEMA $schema OWNER TO $PG_OWNER_USER;
  END IF;
  -- Tables first: their serial sequences and indexes follow them.
  FOR r IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = '$schema' AND c.relkind IN ('r', 'p') AND c.relowner <> '$PG_OWNER_USER'::regrole LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO $PG_OWNER_USER', r.name);
  END LOOP;
  FOR r IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = '$schema' AND c.relkind = 'S' AND c.relowner <> '$PG_OWNER_USER'::regrole
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')) LOOP
    EXECUTE format('ALTER SEQUENCE %s OWNER TO $PG_OWNER_USER', r.name);
  END LOOP;
  FOR r IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = '$schema' AND c.relkind IN ('v', 'm') AND c.relowner <> '$PG_OWNER_USER'::regrole LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO $PG_OWNER_USER', r.name);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = '$schema' AND p.proowner <> '$PG_OWNER_USER'::regrole LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO $PG_OWNER_USER', r.name);
  END LOOP;
END
\$\$;
SQL
  done
}

# --------------------------------------------------------------------------- commands

start_component() {
  case $1 in
    kafka) kafka_start ;; postgres) pg_start ;; redis) redis_start ;; mosquitto) mosq_start ;;
  esac
}

probe_component() {
  case $1 in
    kafka) kafka_probe ;; postgres) pg_probe ;; redis) redis_probe ;; mosquitto) mosq_probe ;;
  esac
}

# wait_ready COMPONENT: poll the readiness probe until the deadline.
wait_ready() {
  local comp=$1 t0 deadline seen=0
  t0=$(now_ms)
  deadline=$((t0 + READY_TIMEOUT * 1000))
  while :; do
    if comp_pid "$comp" >/dev/null; then
      seen=1
      probe_component "$comp" && break
    elif ((seen || $(now_ms) - t0 > 10000)); then
      printf '[stack] ERROR: %s: process exited before becoming ready\n' "$comp" >&2
      show_log_tail "$comp"
      return 1
    fi
    if (($(now_ms) >= deadline)); then
      printf '[stack] ERROR: %s: not ready after %ss\n' "$comp" "$READY_TIMEOUT" >&2
      show_log_tail "$comp"
      return 1
    fi
    sleep 0.25
  done
}

cmd_up() {
  local t0 comp pid port failed=() started=() k
  t0=$(now_ms)
  prepare_state
  take_lock
  load_ports
  resolve_pg_dir
  for comp in "${COMPONENTS[@]}"; do
    if pid=$(comp_pid "$comp"); then
      for k in "${PORT_VARS[@]}"; do
        if [[ -n ${SAVED_PORT[$k]:-} && ${SAVED_PORT[$k]} != "${!k}" ]]; then
          die "the stack is running ($comp pid $pid) with $k=${SAVED_PORT[$k]} but $k=${!k} was requested; run '$0 down' first to change ports"
        fi
      done
    fi
  done
  ensure_deps
  comp_pid kafka >/dev/null || kafka_fetch
  MQTT_NEEDS_BOOTSTRAP=0
  for comp in "${COMPONENTS[@]}"; do
    port=$(comp_port "$comp")
    if pid=$(comp_pid "$comp"); then
      log "$comp: already running (pid $pid), left alone"
      if [[ $comp == mosquitto ]] && ! mosq_has_tls; then
        warn "mosquitto was started without the TLS listener (by an older stack.sh); to add it: $0 stop mosquitto && $0 up"
      elif [[ $comp == mosquitto ]] && ! mosq_has_password_file; then
        warn "mosquitto was started without the meters' listener and password file (by an older stack.sh), so 'env' keeps BROKER_CREDENTIALS=dynsec; to add them: $0 stop mosquitto && $0 up"
      fi
      continue
    fi
    for p in $port $([[ $comp == kafka ]] && echo "$KAFKA_CONTROLLER_PORT") $([[ $comp == mosquitto ]] && echo "$MQTT_TLS_PORT $MQTT_METER_PORT"); do
      tcp_open "$p" && die "$comp: port $BIND:$p is already in use by a process this stack did not start"
    done
    start_component "$comp"
    started+=("$comp")
  done
  save_ports
  for comp in redis mosquitto postgres kafka; do
    if ! wait_ready "$comp"; then
      failed+=("$comp")
      [[ $comp == mosquitto && $MQTT_NEEDS_BOOTSTRAP == 1 ]] && rm -f -- "$DYNSEC_FILE"
      continue
    fi
    if [[ $comp == mosquitto && $MQTT_NEEDS_BOOTSTRAP == 1 ]]; then
      if mosq_bootstrap; then
        : >"$MQTT_BOOTSTRAP_DONE"
        log "mosquitto: dynamic security initialised (clients $MQTT_ADMIN_USERNAME, $MQTT_INGESTION_USERNAME; credentials in $CREDENTIALS)"
      else
        printf '[stack] ERROR: mosquitto: dynsec bootstrap failed; stopping it so the next up starts clean\n' >&2
        stop_component mosquitto || true
        rm -f -- "$DYNSEC_FILE"
        failed+=(mosquitto)
        continue
      fi
    fi
    if [[ $comp == postgres ]] && ! pg_ensure_app_db; then
      printf "[stack] ERROR: postgres: role/database '%s' not usable over TCP\n" "$PG_APP_USER" >&2
      show_log_tail postgres
      failed+=(postgres)
      continue
    fi
    log "$(printf '%-9s ready on %s:%-5s (+%s)' "$comp" "$BIND" "$(comp_port "$comp")" "$(fmt_ms $(($(now_ms) - t0)))")"
  done
  if ((${#failed[@]})); then
    die "not ready: ${failed[*]} (logs in $LOGS)"
  fi
  log "all components ready in $(fmt_ms $(($(now_ms) - t0))); use: eval \"\$($0 env)\""
}

stop_component() {
  local comp=$1 pid
  if ! pid=$(comp_pid "$comp"); then
    [[ $comp == postgres ]] || rm -f -- "$RUN/$comp.pid"
    log "$comp: not running"
    return 0
  fi
  if [[ $comp == postgres ]]; then
    pg_run "$PG_BIN/pg_ctl" stop -D "$PGDATA" -m fast -s -w -t "$STOP_TIMEOUT" >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  else
    kill -TERM "$pid" 2>/dev/null || true
  fi
  if ! wait_pid_gone "$pid" "$STOP_TIMEOUT"; then
    warn "$comp (pid $pid) did not stop within ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_pid_gone "$pid" 10 || { warn "$comp (pid $pid) is still alive"; return 1; }
  fi
  [[ $comp == postgres ]] || rm -f -- "$RUN/$comp.pid"
  log "$comp: stopped (pid $pid)"
}

# Stops one component, leaving the others up: how tests simulate an outage (`up` restarts it).
cmd_stop_one() {
  local comp=$1
  [[ " ${COMPONENTS[*]} " == *" $comp "* ]] || die "stop: expected one of ${COMPONENTS[*]}, got '$comp'"
  [[ -d $STATE ]] || die "nothing to stop ($STATE does not exist)"
  take_lock
  load_ports
  resolve_pg_dir
  stop_component "$comp"
}

cmd_down() {
  local comp rc=0 t0
  t0=$(now_ms)
  [[ -d $STATE ]] || { log "nothing to stop ($STATE does not exist)"; return 0; }
  take_lock
  load_ports
  resolve_pg_dir
  # stop in parallel (kafka's controlled shutdown is the slow one)
  local pids=()
  for comp in kafka mosquitto redis postgres; do
    stop_component "$comp" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  ((rc == 0)) || die "some components did not stop"
  log "all stopped in $(fmt_ms $(($(now_ms) - t0)))"
}

cmd_status() {
  local comp pid state port extra all=0
  load_ports
  resolve_pg_dir
  printf '%-10s %-9s %-22s %s\n' COMPONENT STATE ADDRESS PID
  for comp in kafka mosquitto redis postgres; do
    port=$(comp_port "$comp")
    extra=""
    [[ $comp == kafka ]] && extra=" (controller $BIND:$KAFKA_CONTROLLER_PORT)"
    [[ $comp == mosquitto ]] && extra=" (meters $BIND:$MQTT_METER_PORT, TLS $BIND:$MQTT_TLS_PORT)"
    if pid=$(comp_pid "$comp" 2>/dev/null); then
      if tcp_open "$port"; then state=up; else state=starting; all=1; fi
    else
      pid=-
      state=down
      all=1
    fi
    printf '%-10s %-9s %-22s %s%s\n' "$comp" "$state" "$BIND:$port" "$pid" "$extra"
  done
  printf 'state: %s  logs: %s\n' "$STATE" "$LOGS"
  return $all
}

cmd_env() {
  load_ports
  echo "export KAFKA_BROKERS=$BIND:$KAFKA_PORT"
  echo "export MQTT_URL=mqtt://$BIND:$MQTT_PORT"
  # Where meters connect with their password (client id = username). Only a broker started by
  # this stack.sh has it; an older one keeps meters on MQTT_URL and the registry in dynsec mode.
  if mosq_has_password_file; then
    echo "export MQTT_METER_URL=mqtt://$BIND:$MQTT_METER_PORT"
    echo "export BROKER_CREDENTIALS=password-file"
    echo "export MQTT_PASSWORD_FILE=$MQTT_PASSWORD_FILE"
  else
    echo "export MQTT_METER_URL=mqtt://$BIND:$MQTT_PORT"
    echo "export BROKER_CREDENTIALS=dynsec"
  fi
  echo "export REDIS_URL=redis://$BIND:$REDIS_PORT"
  echo "export DATABASE_URL=postgres://$PG_APP_USER:$PG_APP_PASSWORD@$BIND:$PG_PORT/$PG_APP_DB"
  # The registry's and the orchestrator's migrations run as the schema owner, the services as
  # DATABASE_URL's role (once an `up` of this stack.sh has made the owner role).
  if [[ -f $PG_OWNER_DONE ]]; then
    echo "export DATABASE_OWNER_URL=postgres://$PG_OWNER_USER:$PG_OWNER_PASSWORD@$BIND:$PG_PORT/$PG_APP_DB"
  fi
  # The TLS listener; its host must be one of MQTT_TLS_SERVER_NAMES (the broker certificate's).
  echo "export MQTT_TLS_URL=mqtts://localhost:$MQTT_TLS_PORT"
  echo "export MQTT_CA_FILE=$PKI_CA_CERT"
  # For the registry: the device CA it signs meter certificates with, the CRL it keeps current,
  # and the broker it tells (SIGHUP) to re-read that CRL.
  echo "export DEVICE_CA_DIR=$PKI_DIR"
  echo "export DEVICE_CRL_FILE=$PKI_CRL"
  echo "export MQTT_BROKER_PID_FILE=$RUN/mosquitto.pid"
  echo "export MQTT_ADMIN_USERNAME=$MQTT_ADMIN_USERNAME"
  if load_credentials; then
    echo "export MQTT_ADMIN_PASSWORD=$MQTT_ADMIN_PASSWORD"
    echo "export MQTT_INGESTION_USERNAME=$MQTT_INGESTION_USERNAME"
    echo "export MQTT_INGESTION_PASSWORD=$MQTT_INGESTION_PASSWORD"
  else
    echo "export MQTT_INGESTION_USERNAME=$MQTT_INGESTION_USERNAME"
    die "no MQTT credentials yet ($CREDENTIALS); run: $0 up"
  fi
}

cmd_reset() {
  if [[ -d $STATE ]]; then
    [[ -f $MARKER ]] || die "$STATE was not created by this script (no $MARKER); not deleting it"
    cmd_down
    resolve_pg_dir
    if [[ $PG_DIR == /tmp/meterlink-pg-* ]]; then rm -rf -- "$PG_DIR"; fi
    rm -rf -- "$STATE"
    log "deleted $STATE (download cache $CACHE kept)"
  else
    log "nothing to reset ($STATE does not exist)"
  fi
}

usage() {
  sed -n '3,11p' "$0" | sed 's/^# \{0,1\}//'
}

main() {
  local cmd=${1:-}
  case $cmd in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    reset) cmd_reset ;;
    stop) cmd_stop_one "${2:-}" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

# Run only when executed; selftest.sh sources this file for its helpers.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
