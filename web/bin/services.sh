#!/usr/bin/env bash
# Project-local services: PostgreSQL+PostGIS, Redis and Mosquitto under var/.
# Each is started only when no external one is configured (DATABASE_URL, REDIS_URL, MQTT_URL).
# Usage: services.sh deps|venv|start|stop|status|env
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VAR="${GEOASSET_VAR:-$ROOT/var}"
PG_PORT="${GEOASSET_PG_PORT:-54329}"
REDIS_PORT="${GEOASSET_REDIS_PORT:-63790}"
MQTT_PORT="${GEOASSET_MQTT_PORT:-18830}"
PG_BIN="${GEOASSET_PG_BIN:-/usr/lib/postgresql/15/bin}"
ENV_FILE="$VAR/local.env"
# External services named in the environment win over the project-local ones.
EXT_DATABASE_URL="${DATABASE_URL:-}"
EXT_REDIS_URL="${REDIS_URL:-}"
EXT_MQTT_URL="${MQTT_URL:-}"
DEB_PACKAGES=(postgresql-15 postgresql-15-postgis-3 gdal-bin libgdal-dev gettext mosquitto redis-server chromium fonts-noto-cjk openssl)

log() { printf '[services] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; return 1; fi
}

# Run a command as the unprivileged database owner (PostgreSQL refuses to run as root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd_deps() {
  local missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  log "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian packages start system-wide daemons we do not use; stop them so ports stay free.
  as_root service mosquitto stop >/dev/null 2>&1 || true
  as_root service redis-server stop >/dev/null 2>&1 || true
}

cmd_venv() {
  local py="${PYTHON:-python3.11}"
  command -v "$py" >/dev/null || py=python3
  [ -x "$ROOT/.venv/bin/python" ] || "$py" -m venv "$ROOT/.venv"
  local stamp="$ROOT/.venv/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    log "installing Python packages into .venv"
    "$ROOT/.venv/bin/pip" install -q --upgrade pip
    "$ROOT/.venv/bin/pip" install -q -e "$ROOT[dev]"
    rm -f "$ROOT"/.venv/.installed-*
    touch "$stamp"
  fi
}

write_env() {
  # Generated once; later runs keep the same secret key and passwords.
  mkdir -p "$VAR"
  if [ ! -f "$ENV_FILE" ]; then
    local secret pgpass
    secret="$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')"
    pgpass="$(head -c 24 /dev/urandom | base64 | tr -d '\n/+=')"
    {
      echo "SECRET_KEY=$secret"
      echo "LOCAL_PG_PASSWORD=$pgpass"
    } >"$ENV_FILE"
    chmod 600 "$ENV_FILE"
  fi
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  grep -q '^DATABASE_URL=' "$ENV_FILE" || [ -n "$EXT_DATABASE_URL" ] ||
    echo "DATABASE_URL=postgis://geoasset:${LOCAL_PG_PASSWORD}@127.0.0.1:${PG_PORT}/geoasset" >>"$ENV_FILE"
  grep -q '^REDIS_URL=' "$ENV_FILE" || [ -n "$EXT_REDIS_URL" ] ||
    echo "REDIS_URL=redis://127.0.0.1:${REDIS_PORT}/0" >>"$ENV_FILE"
  [ -n "$EXT_MQTT_URL" ] || mqtt_env
}

# The local broker's accounts (web/bin/mqtt_dynsec.py): the ingest workers', the gateways'
# (simulator, load generators) and the admin one that manages the devices' accounts.
mqtt_env() {
  local kind var
  for kind in ADMIN INGEST GATEWAY; do
    var="LOCAL_MQTT_${kind}_PASSWORD"
    grep -q "^$var=" "$ENV_FILE" ||
      echo "$var=$(head -c 24 /dev/urandom | base64 | tr -d '\n/+=')" >>"$ENV_FILE"
  done
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  # Before brokers had accounts, MQTT_URL named the local broker without one.
  sed -i "\|^MQTT_URL=mqtt://127.0.0.1:${MQTT_PORT}\$|d" "$ENV_FILE"
  local at="127.0.0.1:${MQTT_PORT}"
  grep -q '^MQTT_URL=' "$ENV_FILE" ||
    echo "MQTT_URL=mqtt://geoasset-ingest:${LOCAL_MQTT_INGEST_PASSWORD}@$at" >>"$ENV_FILE"
  grep -q '^MQTT_GATEWAY_URL=' "$ENV_FILE" ||
    echo "MQTT_GATEWAY_URL=mqtt://geoasset-gateway:${LOCAL_MQTT_GATEWAY_PASSWORD}@$at" >>"$ENV_FILE"
  grep -q '^MQTT_ADMIN_URL=' "$ENV_FILE" ||
    echo "MQTT_ADMIN_URL=mqtt://geoasset-admin:${LOCAL_MQTT_ADMIN_PASSWORD}@$at" >>"$ENV_FILE"
}

pg_dir() {
  # The cluster lives in var/pg, unless the postgres user cannot reach the checkout
  # (a checkout under a private home directory): then in a per-checkout folder under /var/tmp.
  local dir="$VAR/pg"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      dir="/var/tmp/geoasset-pg-$(printf '%s' "$ROOT" | sha1sum | cut -c1-10)"
      mkdir -p "$dir" && chown postgres:postgres "$dir"
    fi
  fi
  printf '%s' "$dir"
}

pg_start() {
  local dir; dir="$(pg_dir)"
  local data="$dir/data" sock="$dir/run"
  mkdir -p "$sock"
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$dir"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initialising PostgreSQL cluster in $data"
    local pwfile="$dir/.pw"
    printf '%s\n' "$LOCAL_PG_PASSWORD" >"$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    as_pg "$PG_BIN/initdb" -D "$data" -U geoasset --pwfile="$pwfile" --auth-host=scram-sha-256 \
      --auth-local=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$sock'
unix_socket_permissions = 0700
shared_buffers = 512MB
work_mem = 32MB
maintenance_work_mem = 256MB
max_wal_size = 4GB
fsync = ${GEOASSET_PG_FSYNC:-on}
CONF
  fi
  if ! as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >/dev/null
    log "PostgreSQL on 127.0.0.1:$PG_PORT"
  fi
  if ! as_pg "$PG_BIN/psql" -h "$sock" -p "$PG_PORT" -U geoasset -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='geoasset'" | grep -q 1; then
    as_pg "$PG_BIN/psql" -h "$sock" -p "$PG_PORT" -U geoasset -d postgres -qc "CREATE DATABASE geoasset"
  fi
  as_pg "$PG_BIN/psql" -h "$sock" -p "$PG_PORT" -U geoasset -d geoasset -qc \
    "CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS btree_gist;" 2>/dev/null
}

redis_start() {
  mkdir -p "$VAR/redis"
  if [ -f "$VAR/redis/redis.pid" ] && kill -0 "$(cat "$VAR/redis/redis.pid")" 2>/dev/null; then return 0; fi
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$VAR/redis" --daemonize yes \
    --pidfile "$VAR/redis/redis.pid" --logfile "$VAR/redis/redis.log" --save "" >/dev/null
  log "Redis on 127.0.0.1:$REDIS_PORT"
}

mqtt_start() {
  local dir="$VAR/mosquitto"
  mkdir -p "$dir"
  local plugin
  plugin="$(dpkg -L mosquitto 2>/dev/null | grep -m1 '/mosquitto_dynamic_security\.so$' || true)"
  [ -n "$plugin" ] ||
    plugin="$(find /usr/lib /usr/local/lib -name mosquitto_dynamic_security.so 2>/dev/null | head -1)"
  [ -n "$plugin" ] || { log "mosquitto's dynamic security plugin is missing"; return 1; }
  local conf
  conf="$(cat <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous false
persistence false
plugin $plugin
plugin_opt_config_file $dir/dynamic-security.json
CONF
)"
  [ "$(id -u)" = 0 ] && conf="$conf"$'\n'"user root"
  if [ -f "$dir/mosquitto.pid" ] && kill -0 "$(cat "$dir/mosquitto.pid")" 2>/dev/null; then
    # Running with this configuration: nothing to do; with an older one: restarted.
    [ "$conf" = "$(cat "$dir/mosquitto.conf" 2>/dev/null)" ] && return 0
    kill "$(cat "$dir/mosquitto.pid")" 2>/dev/null || true
    sleep 0.5
  fi
  printf '%s\n' "$conf" >"$dir/mosquitto.conf"
  LOCAL_MQTT_ADMIN_PASSWORD="$LOCAL_MQTT_ADMIN_PASSWORD" \
    LOCAL_MQTT_INGEST_PASSWORD="$LOCAL_MQTT_INGEST_PASSWORD" \
    LOCAL_MQTT_GATEWAY_PASSWORD="$LOCAL_MQTT_GATEWAY_PASSWORD" \
    python3 "$ROOT/web/bin/mqtt_dynsec.py" "$dir/dynamic-security.json"
  nohup mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
  echo $! >"$dir/mosquitto.pid"
  log "Mosquitto on 127.0.0.1:$MQTT_PORT (accounts required)"
}

cmd_start() {
  write_env
  if grep -q '^DATABASE_URL=.*@127.0.0.1:'"$PG_PORT"'/' "$ENV_FILE" && [ -z "$EXT_DATABASE_URL" ]; then pg_start; fi
  if grep -q '^REDIS_URL=redis://127.0.0.1:'"$REDIS_PORT" "$ENV_FILE" && [ -z "$EXT_REDIS_URL" ]; then redis_start; fi
  if grep -q '^MQTT_URL=mqtt://[^@]*@127.0.0.1:'"$MQTT_PORT\$" "$ENV_FILE" && [ -z "$EXT_MQTT_URL" ]; then mqtt_start; fi
}

# The MQTT ingestion worker (tracking/): one `track_ingest` in the background for `make run`;
# more can run anywhere, sharing the load through the broker's shared subscription.
cmd_ingest() {
  mkdir -p "$VAR/ingest"
  if [ -f "$VAR/ingest/ingest.pid" ] && kill -0 "$(cat "$VAR/ingest/ingest.pid")" 2>/dev/null; then
    return 0
  fi
  # `$!` is then nohup's pid, which becomes the worker's: the pid file names the process.
  (cd "$ROOT" || exit 1
   nohup .venv/bin/python manage.py track_ingest >"$VAR/ingest/ingest.log" 2>&1 &
   echo $! >"$VAR/ingest/ingest.pid")
  log "tracking ingest worker started (log: var/ingest/ingest.log)"
}

# Background jobs (web/celery.py): one Celery worker with the beat scheduler embedded, for
# `make run`; on several machines run workers anywhere and exactly one beat.
cmd_jobs() {
  mkdir -p "$VAR/jobs"
  if [ -f "$VAR/jobs/worker.pid" ] && kill -0 "$(cat "$VAR/jobs/worker.pid")" 2>/dev/null; then
    return 0
  fi
  (cd "$ROOT" || exit 1
   nohup .venv/bin/celery -A web.celery worker --beat --concurrency 2 \
     --schedule "$VAR/jobs/beat-schedule" --loglevel info >"$VAR/jobs/worker.log" 2>&1 &
   echo $! >"$VAR/jobs/worker.pid")
  log "background job worker started (log: var/jobs/worker.log)"
}

# The demo's trackers (`manage.py simulate_devices`): 40 devices, 20 messages a second, through
# the gateway account, until `make stop`; the map's live layer and alerts have traffic then,
# and the offline rules stay quiet.
cmd_simulate() {
  mkdir -p "$VAR/simulate"
  if [ -f "$VAR/simulate/simulate.pid" ] && kill -0 "$(cat "$VAR/simulate/simulate.pid")" 2>/dev/null; then
    return 0
  fi
  (cd "$ROOT" || exit 1
   nohup .venv/bin/python manage.py simulate_devices --company "${SIMULATE_COMPANY:-LZCT}" \
     --devices 40 --rate 20 --duration 31536000 >"$VAR/simulate/simulate.log" 2>&1 &
   echo $! >"$VAR/simulate/simulate.pid")
  log "demo trackers publishing (log: var/simulate/simulate.log)"
}

cmd_stop() {
  if [ -f "$VAR/simulate/simulate.pid" ]; then
    kill "$(cat "$VAR/simulate/simulate.pid")" 2>/dev/null && log "demo trackers stopped" || true
    rm -f "$VAR/simulate/simulate.pid"
  fi
  if [ -f "$VAR/ingest/ingest.pid" ]; then
    kill "$(cat "$VAR/ingest/ingest.pid")" 2>/dev/null && log "ingest worker stopped" || true
    rm -f "$VAR/ingest/ingest.pid"
  fi
  if [ -f "$VAR/jobs/worker.pid" ]; then
    kill "$(cat "$VAR/jobs/worker.pid")" 2>/dev/null && log "background job worker stopped" || true
    rm -f "$VAR/jobs/worker.pid"
  fi
  local dir; dir="$(pg_dir)"
  if [ -f "$dir/data/PG_VERSION" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 && log "PostgreSQL stopped" || true
  fi
  for svc in redis/redis mosquitto/mosquitto; do
    if [ -f "$VAR/$svc.pid" ]; then
      kill "$(cat "$VAR/$svc.pid")" 2>/dev/null && log "${svc%%/*} stopped" || true
      rm -f "$VAR/$svc.pid"
    fi
  done
}

case "${1:-}" in
  deps) cmd_deps ;;
  venv) cmd_venv ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  ingest) cmd_ingest ;;
  jobs) cmd_jobs ;;
  simulate) cmd_simulate ;;
  *) echo "usage: $0 deps|venv|start|stop|ingest|jobs|simulate" >&2; exit 2 ;;
esac
