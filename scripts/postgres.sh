#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for tests and demos.
#
#   scripts/postgres.sh start DIR [PORT]   # creates DIR, starts the server, prints its URL
#   scripts/postgres.sh stop DIR           # stops it (DIR stays; delete it yourself)
#   scripts/postgres.sh install            # installs the server from Debian's packages if missing
#
# The server listens on 127.0.0.1:PORT (default 55432) with fsync off (test data only), logs to
# DIR/server.log, and has a role and database `heinfer` (password `heinfer`). As root, initdb and
# the server run as the `postgres` user, which owns DIR.
set -euo pipefail

find_bin() {
  local name=$1
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  local candidate
  candidate=$(ls -d /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -1 || true)
  [[ -n "$candidate" ]] && echo "$candidate"
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    # runuser keeps no root privileges; cd first: postgres cannot read root's working folder.
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

command=${1:-}
case "$command" in
  install)
    if [[ -z "$(find_bin pg_ctl)" ]]; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq postgresql >/dev/null
    fi
    find_bin pg_ctl
    ;;
  start)
    dir=${2:?usage: postgres.sh start DIR [PORT]}
    port=${3:-55432}
    initdb=$(find_bin initdb) || true
    pg_ctl=$(find_bin pg_ctl) || true
    if [[ -z "$initdb" || -z "$pg_ctl" ]]; then
      echo "postgres.sh: no PostgreSQL server here (run: scripts/postgres.sh install)" >&2
      exit 1
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
      as_owner "$initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log"
    fi
    as_owner "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=200" \
      start >/dev/null
    psql -h 127.0.0.1 -p "$port" -U postgres -q -v ON_ERROR_STOP=1 -d postgres <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'heinfer') THEN
    CREATE ROLE heinfer LOGIN PASSWORD 'heinfer';
  END IF;
END \$\$;
SQL
    if ! psql -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'heinfer'" | grep -q 1; then
      psql -h 127.0.0.1 -p "$port" -U postgres -q -c "CREATE DATABASE heinfer OWNER heinfer" >/dev/null
    fi
    echo "postgres://heinfer:heinfer@127.0.0.1:$port/heinfer?sslmode=disable"
    ;;
  stop)
    dir=${2:?usage: postgres.sh stop DIR}
    pg_ctl=$(find_bin pg_ctl)
    as_owner "$pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  *)
    echo "usage: postgres.sh start DIR [PORT] | stop DIR | install" >&2
    exit 2
    ;;
esac
