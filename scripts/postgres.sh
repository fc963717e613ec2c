#!/usr/bin/env bash
# Makes sure Postgres runs and has the shop role and one database per service. Safe to repeat.
source "$(dirname "$0")/lib.sh"

if [ ! -d /etc/postgresql ] || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  ensure_packages pg_ctlcluster:postgresql
fi
ensure_packages psql:postgresql-client

if ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
  say "starting Postgres"
  version="$(ls /etc/postgresql | sort -n | tail -1)"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  echo "$version" >"$RUN_DIR/postgres.started"   # so make down stops only what make up started
  for _ in $(seq 1 30); do pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break; sleep 1; done
fi

# pg_stat_statements lets make bench count the statements an order costs. Loading it needs one
# restart of Postgres, done once, before any service connects.
if ! psql_admin -c "SHOW shared_preload_libraries" | grep -q pg_stat_statements; then
  say "enabling pg_stat_statements (one restart of Postgres)"
  current="$(psql_admin -c "SHOW shared_preload_libraries")"
  psql_admin -c "ALTER SYSTEM SET shared_preload_libraries = '${current:+$current,}pg_stat_statements'" >/dev/null
  version="$(ls /etc/postgresql | sort -n | tail -1)"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main restart
  for _ in $(seq 1 30); do pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break; sleep 1; done
fi
psql_admin -d postgres -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null

psql_admin -c "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF; END \$\$;" >/dev/null

for entry in "${SERVICES[@]}"; do
  db="shop_${entry%%:*}"
  if [ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    say "creating database $db"
    psql_admin -c "CREATE DATABASE $db OWNER $PG_USER" >/dev/null
  fi
done
