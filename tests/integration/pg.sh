# A PostgreSQL 15 server of the test's own, for the tests of the PostgreSQL
# hub. Source it after lib.sh. pg_start runs initdb and pg_ctl in a fresh
# directory (as the postgres user when the test runs as root: PostgreSQL
# refuses to run as root), listening on a free loopback port, and arranges
# for the server to be stopped and its directory removed when the test
# exits. PostgreSQL missing is a failure, never a skip: CI installs it
# (scripts/install-deps.sh).
#
# After pg_start: PGPORT, PGBIN, PGDATA_DIR and
#   PGURL     postgresql://postgres@127.0.0.1:PORT/labhub  (superuser, for setup)
#   pg_url ROLE       the URL of the same database as another role
#   psql_q SQL        run SQL as the superuser, unaligned output
#   pg_stop / pg_kill / pg_restart   stop cleanly, kill -9, start again

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)}

pg_as() {   # run a PostgreSQL program as the server's owner
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
  [ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] ||
    fail "PostgreSQL 15 is not installed (apt-get install postgresql-15; scripts/install-deps.sh does it)"
  PGDATA_DIR=$(mktemp -d /tmp/labloop-pg.XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown postgres: "$PGDATA_DIR"
  PGPORT=$(free_port)
  pg_as "$PGBIN/initdb" -D "$PGDATA_DIR/data" -U postgres -A trust --no-sync -E UTF8 \
    >"$PGDATA_DIR/initdb.log" 2>&1 || { cat "$PGDATA_DIR/initdb.log" >&2; fail "initdb failed"; }
  cat >>"$PGDATA_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGDATA_DIR'
fsync = off
max_connections = 40
shared_buffers = 64MB
CONF
  trap 'pg_stop; cleanup' EXIT
  pg_restart
  PGURL="postgresql://postgres@127.0.0.1:$PGPORT/labhub"
  pg_as "$PGBIN/psql" -h "$PGDATA_DIR" -p "$PGPORT" -U postgres -d postgres -qAt \
    -c "CREATE DATABASE labhub" >/dev/null || fail "createdb failed"
}

pg_restart() {
  pg_as "$PGBIN/pg_ctl" -D "$PGDATA_DIR/data" -l "$PGDATA_DIR/server.log" -w -t 30 start >/dev/null ||
    { tail -20 "$PGDATA_DIR/server.log" >&2; fail "pg_ctl start failed"; }
}

pg_stop() {
  [ -n "${PGDATA_DIR:-}" ] || return 0
  if [ -f "$PGDATA_DIR/data/postmaster.pid" ]; then
    pg_as "$PGBIN/pg_ctl" -D "$PGDATA_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $PGDATA_DIR"; else rm -rf "$PGDATA_DIR"; fi
  PGDATA_DIR=
}

# pg_kill: the server dies at once (SIGKILL to the postmaster and its children).
pg_kill() {
  local pid; pid=$(head -1 "$PGDATA_DIR/data/postmaster.pid")
  kill -KILL "$pid"
  pkill -KILL -P "$pid" 2>/dev/null || true
  local end=$(( $(date +%s) + 20 ))
  while kill -0 "$pid" 2>/dev/null; do [ "$(date +%s)" -lt "$end" ] || fail "postgres did not die"; sleep 0.05; done
  sleep 0.2
}

pg_url() { echo "postgresql://$1@127.0.0.1:$PGPORT/labhub"; }

psql_q() { "$PGBIN/psql" "$PGURL" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
psql_as() { "$PGBIN/psql" "$(pg_url "$1")" -qAtX -v ON_ERROR_STOP=1 -c "$2"; }
