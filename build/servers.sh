#!/usr/bin/env bash
# Starts and stops the throwaway servers the integration tests and benchmarks need:
#   - PostgreSQL 15: a fresh cluster in a temp dir on 127.0.0.1 and a free port (trust auth).
#   - RabbitMQ: the Debian package's broker, loopback only, on 127.0.0.1:5672.
#
# Usage:
#   build/servers.sh start    start what is missing, write artifacts/servers/env.sh
#   build/servers.sh stop     stop only what "start" started (idempotent)
#   build/servers.sh status   exit 0 when everything recorded by "start" is still running
#   build/servers.sh restart-postgres [SECONDS]
#                             stop the PostgreSQL that "start" started (fast: sessions are terminated), wait
#                             SECONDS (default 0), start it again on the same port (the fault tests use it)
#
# Afterwards:  source artifacts/servers/env.sh
# It exports DOMAINEVENTS_TEST_POSTGRES and DOMAINEVENTS_TEST_RABBITMQ.
#
# If DOMAINEVENTS_TEST_POSTGRES / DOMAINEVENTS_TEST_RABBITMQ are already set, the matching server is
# left alone and the value is passed through to env.sh. A RabbitMQ broker already answering on
# 127.0.0.1:5672 is used as it is and never stopped by this script.
#
# Knobs (environment): PG_BIN (default /usr/lib/postgresql/15/bin), DOMAINEVENTS_PG_PORT_BASE
# (default 55432), DOMAINEVENTS_RABBITMQ_MANAGEMENT (default 1: enable the management plugin).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="$ROOT/artifacts/servers"
STATE_FILE="$STATE_DIR/state.env"
ENV_FILE="$STATE_DIR/env.sh"
LOCK_FILE="$STATE_DIR/.lock"

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_PORT_BASE="${DOMAINEVENTS_PG_PORT_BASE:-55432}"
PG_USER_OS="postgres"

RABBIT_HOST="127.0.0.1"
RABBIT_PORT="5672"
RABBIT_NODE="rabbit@localhost"
RABBIT_PIDFILE="/var/lib/rabbitmq/mnesia/${RABBIT_NODE}.pid"
RABBIT_MANAGEMENT="${DOMAINEVENTS_RABBITMQ_MANAGEMENT:-1}"

log()  { printf '[servers] %s\n' "$*" >&2; }
die()  { printf '[servers] ERROR: %s\n' "$*" >&2; exit 1; }

is_root()   { [ "$(id -u)" -eq 0 ]; }
is_debian() { [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }

# --- state file -------------------------------------------------------------------------------
# Plain KEY=VALUE lines, values shell-quoted with printf %q.
PG_STARTED=0; PG_TMP=""; PG_DATA=""; PG_PORT=""
RABBIT_STARTED=0

load_state() {
  if [ -f "$STATE_FILE" ]; then
    # shellcheck disable=SC1090
    . "$STATE_FILE"
  fi
}

save_state() {
  mkdir -p "$STATE_DIR"
  {
    echo "# written by build/servers.sh start; read by build/servers.sh stop"
    printf 'PG_STARTED=%q\n' "$PG_STARTED"
    printf 'PG_TMP=%q\n' "$PG_TMP"
    printf 'PG_DATA=%q\n' "$PG_DATA"
    printf 'PG_PORT=%q\n' "$PG_PORT"
    printf 'RABBIT_STARTED=%q\n' "$RABBIT_STARTED"
  } >"$STATE_FILE.tmp"
  mv -f "$STATE_FILE.tmp" "$STATE_FILE"
}

# export NAME='value' with the value single-quoted (a ' inside becomes '\'').
export_line() {
  local name="$1" value="$2"
  printf "export %s='%s'\n" "$name" "${value//\'/\'\\\'\'}"
}

# --- package installation ---------------------------------------------------------------------
APT_UPDATED=0
apt_install() {
  # $1: package, $2: env var the user could set instead (none for a tool)
  local pkg="$1" var="${2:-}"
  if ! is_root || ! is_debian; then
    if [ -z "$var" ]; then
      die "package '$pkg' is not installed and I can only install it as root on Debian/Ubuntu: install it yourself (e.g. 'sudo apt-get install -y $pkg')"
    fi
    die "package '$pkg' is not installed and I can only install it as root on Debian/Ubuntu.
  Either install '$pkg' yourself (e.g. 'sudo apt-get install -y $pkg'),
  or point the tests at a server you already have:  export $var='...'"
  fi
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  log "apt-get install -y $pkg"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$pkg" >&2 \
    || die "apt-get install $pkg failed"
}

# Run a command as the postgres OS user when we are root (initdb refuses root), else as ourselves.
as_pg() {
  if is_root; then runuser -u "$PG_USER_OS" -- "$@"; else "$@"; fi
}

# --- helpers ----------------------------------------------------------------------------------
port_in_use() {
  local port="$1"
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ]
  elif command -v python3 >/dev/null 2>&1; then
    # The bind succeeds (exit 0) when the port is free.
    if python3 - "$port" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
PY
    then return 1; else return 0; fi
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}

# True when an AMQP 0-9-1 broker answers on host:port (it replies to the protocol header with a
# connection.start method frame, type 1). Falls back to a plain TCP connect without python3.
amqp_answers() {
  local host="$1" port="$2"
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$host" "$port" <<'PY' 2>/dev/null
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    s.sendall(b"AMQP\x00\x00\x09\x01")
    s.settimeout(5)
    data = s.recv(1)
    s.close()
    sys.exit(0 if data[:1] == b"\x01" else 1)
except Exception:
    sys.exit(1)
PY
  else
    timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
  fi
}

pg_running() {
  [ -n "$PG_DATA" ] && [ -d "$PG_DATA" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

rabbit_running() {
  amqp_answers "$RABBIT_HOST" "$RABBIT_PORT"
}

find_epmd() {
  if command -v epmd >/dev/null 2>&1; then command -v epmd; return; fi
  local e
  for e in /usr/lib/erlang/erts-*/bin/epmd /usr/lib/erlang/bin/epmd; do
    [ -x "$e" ] && { echo "$e"; return; }
  done
}

# --- PostgreSQL -------------------------------------------------------------------------------
start_postgres() {
  if [ -n "${DOMAINEVENTS_TEST_POSTGRES:-}" ]; then
    log "PostgreSQL: DOMAINEVENTS_TEST_POSTGRES is set, using it as it is"
    return
  fi
  if [ "$PG_STARTED" = 1 ] && pg_running; then
    log "PostgreSQL: already running on 127.0.0.1:$PG_PORT (data $PG_DATA), reusing it"
    return
  fi
  if [ "$PG_STARTED" = 1 ]; then
    log "PostgreSQL: recorded cluster is not running any more, cleaning it up"
    [ -n "$PG_TMP" ] && rm -rf -- "$PG_TMP"
    PG_STARTED=0; PG_TMP=""; PG_DATA=""; PG_PORT=""
    save_state
  fi

  if [ ! -x "$PG_BIN/initdb" ]; then
    apt_install postgresql-15 DOMAINEVENTS_TEST_POSTGRES
    [ -x "$PG_BIN/initdb" ] || die "$PG_BIN/initdb still missing after installing postgresql-15"
  fi
  if is_root && ! id "$PG_USER_OS" >/dev/null 2>&1; then
    die "running as root but there is no '$PG_USER_OS' user for initdb (install postgresql-15 or run as a normal user)"
  fi

  PG_TMP="$(mktemp -d /tmp/domainevents-pg.XXXXXX)"
  chmod 755 "$PG_TMP"
  mkdir -p "$PG_TMP/sock"
  if is_root; then chown -R "$PG_USER_OS:" "$PG_TMP"; fi
  PG_DATA="$PG_TMP/data"
  # Record the temp dir at once so "stop" can clean up even if the rest fails.
  PG_STARTED=1; PG_PORT=""
  save_state

  log "PostgreSQL: initdb $PG_DATA"
  if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --no-locale \
      >"$PG_TMP/initdb.log" 2>&1; then
    cat "$PG_TMP/initdb.log" >&2
    die "initdb failed (log above)"
  fi

  local port="$PG_PORT_BASE" tries=0
  while :; do
    while port_in_use "$port"; do port=$((port + 1)); done
    log "PostgreSQL: starting on 127.0.0.1:$port"
    if pg_start_on "$port"; then
      break
    fi
    tries=$((tries + 1))
    if [ "$tries" -ge 5 ] || ! grep -qiE 'could not bind|address already in use' "$PG_TMP/server.log" 2>/dev/null; then
      cat "$PG_TMP/pg_ctl.log" "$PG_TMP/server.log" >&2 2>/dev/null || true
      die "PostgreSQL did not start (logs above, data dir $PG_DATA; run 'build/servers.sh stop' to clean up)"
    fi
    port=$((port + 1))
  done
  PG_PORT="$port"
  save_state

  if [ -x "$PG_BIN/pg_isready" ]; then
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 30 || die "PostgreSQL started but pg_isready fails on port $PG_PORT"
  fi
  log "PostgreSQL: ready on 127.0.0.1:$PG_PORT"
}

# Starts the recorded cluster on a port with the options every start uses.
pg_start_on() {
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_TMP/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $1 -c unix_socket_directories=$PG_TMP/sock -c fsync=off -c synchronous_commit=off -c max_connections=300" \
    start >"$PG_TMP/pg_ctl.log" 2>&1
}

cmd_restart_postgres() {
  load_state
  [ "$PG_STARTED" = 1 ] && pg_running || die "restart-postgres: no PostgreSQL started by 'build/servers.sh start' is running"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null 2>&1 || die "restart-postgres: pg_ctl stop failed"
  sleep "${1:-0}"
  pg_start_on "$PG_PORT" || { cat "$PG_TMP/pg_ctl.log" >&2; die "restart-postgres: PostgreSQL did not start again"; }
  log "PostgreSQL: restarted on 127.0.0.1:$PG_PORT"
}

stop_postgres() {
  if [ "$PG_STARTED" != 1 ]; then return; fi
  if [ -n "$PG_DATA" ] && [ -d "$PG_DATA" ] && [ -x "$PG_BIN/pg_ctl" ]; then
    if pg_running; then
      log "PostgreSQL: stopping (port $PG_PORT)"
      as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null 2>&1 \
        || log "PostgreSQL: pg_ctl stop failed"
    fi
  fi
  if [ -n "$PG_TMP" ] && [ -d "$PG_TMP" ]; then
    case "$PG_TMP" in
      /tmp/domainevents-pg.*) rm -rf -- "$PG_TMP" ;;
      *) log "PostgreSQL: not removing unexpected directory '$PG_TMP'" ;;
    esac
  fi
  PG_STARTED=0; PG_TMP=""; PG_DATA=""; PG_PORT=""
  save_state
}

# --- RabbitMQ ---------------------------------------------------------------------------------
configure_rabbit() {
  mkdir -p /etc/rabbitmq
  local envconf=/etc/rabbitmq/rabbitmq-env.conf conf=/etc/rabbitmq/rabbitmq.conf
  cat >"$envconf.new" <<'EOF'
# Managed by DomainEvents build/servers.sh: a loopback-only broker for tests.
NODENAME=rabbit@localhost
NODE_IP_ADDRESS=127.0.0.1
export ERL_EPMD_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
# The CLI tools (rabbitmqctl, rabbitmq-diagnostics, ...) start an Erlang node too: keep it on loopback.
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
  {
    echo "# Managed by DomainEvents build/servers.sh: a loopback-only broker for tests."
    echo "listeners.tcp.default = 127.0.0.1:5672"
    if [ "$RABBIT_MANAGEMENT" = 1 ]; then echo "management.tcp.ip = 127.0.0.1"; fi
  } >"$conf.new"
  local f
  for f in "$envconf" "$conf"; do
    # Back up a file someone else wrote (the package's all-comment default is not worth keeping).
    if [ -f "$f" ] && ! cmp -s "$f" "$f.new" && ! grep -q 'Managed by DomainEvents' "$f" \
        && grep -qv -E '^[[:space:]]*(#|$)' "$f"; then
      cp -p "$f" "$f.bak.$(date +%s)"
      log "RabbitMQ: backed up existing $f"
    fi
    mv -f "$f.new" "$f"
    chmod 644 "$f"
  done
  if [ "$RABBIT_MANAGEMENT" = 1 ] && ! grep -qs rabbitmq_management /etc/rabbitmq/enabled_plugins; then
    log "RabbitMQ: enabling rabbitmq_management (offline)"
    rabbitmq-plugins enable --offline rabbitmq_management >/dev/null 2>&1 \
      || log "RabbitMQ: could not enable the management plugin (continuing without it)"
  fi
}

start_rabbit() {
  if [ -n "${DOMAINEVENTS_TEST_RABBITMQ:-}" ]; then
    log "RabbitMQ: DOMAINEVENTS_TEST_RABBITMQ is set, using it as it is"
    return
  fi
  if rabbit_running; then
    if [ "$RABBIT_STARTED" = 1 ]; then
      log "RabbitMQ: already running on $RABBIT_HOST:$RABBIT_PORT (started by an earlier 'start'), reusing it"
    else
      log "RabbitMQ: a broker already answers on $RABBIT_HOST:$RABBIT_PORT; using it (it will not be stopped)"
    fi
    return
  fi
  if [ "$RABBIT_STARTED" = 1 ]; then
    log "RabbitMQ: recorded broker is not running any more, starting it again"
  fi

  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    apt_install rabbitmq-server DOMAINEVENTS_TEST_RABBITMQ
    command -v rabbitmq-server >/dev/null 2>&1 || die "rabbitmq-server still missing after installing it"
  fi
  if ! is_root; then
    die "RabbitMQ is installed but not running, and only root can start the system broker.
  Start it yourself (sudo rabbitmq-server -detached) or export DOMAINEVENTS_TEST_RABBITMQ='amqp://...'"
  fi

  configure_rabbit
  if [ -f "$RABBIT_PIDFILE" ]; then
    local oldpid
    oldpid="$(cat "$RABBIT_PIDFILE" 2>/dev/null || true)"
    if [ -n "$oldpid" ] && kill -0 "$oldpid" 2>/dev/null; then
      die "RabbitMQ node process $oldpid is alive but does not answer on $RABBIT_HOST:$RABBIT_PORT; look at /var/log/rabbitmq/"
    fi
    rm -f "$RABBIT_PIDFILE"
  fi

  # Record before starting so that "stop" cleans up even if the wait below fails.
  RABBIT_STARTED=1
  save_state
  log "RabbitMQ: starting ($RABBIT_NODE on $RABBIT_HOST:$RABBIT_PORT)"
  rabbitmq-server -detached >&2 || die "rabbitmq-server -detached failed; see /var/log/rabbitmq/"
  if ! rabbitmqctl wait --timeout 90 "$RABBIT_PIDFILE" >/dev/null 2>&1; then
    tail -n 40 "/var/log/rabbitmq/${RABBIT_NODE}.log" >&2 2>/dev/null || true
    die "RabbitMQ did not come up within 90 s (log tail above; run 'build/servers.sh stop' to clean up)"
  fi
  for _ in $(seq 1 30); do
    rabbit_running && break
    sleep 1
  done
  rabbit_running || die "RabbitMQ node is up but nothing answers AMQP on $RABBIT_HOST:$RABBIT_PORT"
  log "RabbitMQ: ready on $RABBIT_HOST:$RABBIT_PORT"
}

stop_rabbit() {
  if [ "$RABBIT_STARTED" != 1 ]; then return; fi
  if command -v rabbitmqctl >/dev/null 2>&1; then
    log "RabbitMQ: stopping"
    rabbitmqctl shutdown >/dev/null 2>&1 || log "RabbitMQ: rabbitmqctl shutdown failed (was it running?)"
  fi
  # If the node is still alive (e.g. the CLI could not reach it), end it by its pid.
  if [ -f "$RABBIT_PIDFILE" ]; then
    local pid
    pid="$(cat "$RABBIT_PIDFILE" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      log "RabbitMQ: node $pid still alive, sending TERM"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    rm -f "$RABBIT_PIDFILE"
  fi
  local epmd
  epmd="$(find_epmd || true)"
  if [ -n "$epmd" ]; then
    ERL_EPMD_ADDRESS=127.0.0.1 "$epmd" -kill >/dev/null 2>&1 || true
  fi
  RABBIT_STARTED=0
  save_state
}

# --- env.sh -----------------------------------------------------------------------------------
write_env() {
  mkdir -p "$STATE_DIR"
  {
    echo "# Written by build/servers.sh start. Use: source artifacts/servers/env.sh"
    if [ -n "${DOMAINEVENTS_TEST_POSTGRES:-}" ]; then
      export_line DOMAINEVENTS_TEST_POSTGRES "$DOMAINEVENTS_TEST_POSTGRES"
    else
      export_line DOMAINEVENTS_TEST_POSTGRES "Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=postgres"
      export_line DOMAINEVENTS_TEST_POSTGRES_RESTART "$ROOT/build/servers.sh restart-postgres"
    fi
    if [ -n "${DOMAINEVENTS_TEST_RABBITMQ:-}" ]; then
      export_line DOMAINEVENTS_TEST_RABBITMQ "$DOMAINEVENTS_TEST_RABBITMQ"
    else
      export_line DOMAINEVENTS_TEST_RABBITMQ "amqp://guest:guest@$RABBIT_HOST:$RABBIT_PORT/"
    fi
  } >"$ENV_FILE.tmp"
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
}

# --- commands ---------------------------------------------------------------------------------
# The command tests read a progress bar from a real terminal: tmux gives them one.
ensure_tmux() {
  if ! command -v tmux >/dev/null 2>&1; then
    apt_install tmux
    command -v tmux >/dev/null 2>&1 || die "tmux still missing after installing it"
  fi
}

cmd_start() {
  local t0=$SECONDS
  load_state
  ensure_tmux
  start_postgres
  start_rabbit
  write_env
  log "started in $((SECONDS - t0)) s; environment written to ${ENV_FILE#"$ROOT"/}:"
  sed -n 's/^export /  /p' "$ENV_FILE" >&2
}

cmd_stop() {
  load_state
  stop_postgres
  stop_rabbit
  rm -f "$STATE_FILE" "$ENV_FILE"
  log "stopped"
}

cmd_status() {
  load_state
  local ok=0 any=0
  if [ "$PG_STARTED" = 1 ]; then
    any=1
    if pg_running; then log "PostgreSQL: running on 127.0.0.1:$PG_PORT"; else log "PostgreSQL: recorded but NOT running"; ok=1; fi
  fi
  if [ "$RABBIT_STARTED" = 1 ]; then
    any=1
    if rabbit_running; then log "RabbitMQ: running on $RABBIT_HOST:$RABBIT_PORT"; else log "RabbitMQ: recorded but NOT running"; ok=1; fi
  fi
  if [ "$any" = 0 ]; then log "nothing started by build/servers.sh"; return 1; fi
  return "$ok"
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    start|stop|status|restart-postgres) ;;
    *) echo "usage: $0 start|stop|status|restart-postgres [SECONDS]" >&2; exit 2 ;;
  esac
  mkdir -p "$STATE_DIR"
  # One start/stop at a time per checkout. Re-run ourselves under flock -o so that the lock is held
  # by flock alone: the servers we spawn must not inherit the lock's file descriptor.
  if [ "${_DOMAINEVENTS_SERVERS_LOCKED:-}" != "$LOCK_FILE" ] && command -v flock >/dev/null 2>&1; then
    local rc=0
    _DOMAINEVENTS_SERVERS_LOCKED="$LOCK_FILE" flock -o -w 300 "$LOCK_FILE" "$BASH" "${BASH_SOURCE[0]}" "$@" || rc=$?
    exit "$rc"
  fi
  unset _DOMAINEVENTS_SERVERS_LOCKED
  shift
  "cmd_${cmd//-/_}" "$@"
}

main "$@"
