#!/usr/bin/env bash
# Makes sure Postgres runs and has the shop role and one database per service. Safe to repeat.
source "$(dirname "$0")/lib.sh"

if [ ! -d /etc/postgresql ] || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  ensure_packages pg_ctlcluster:postgresql
fi
ensure_packages psql:postgresql-client

if ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
  say "starting Postgres"
  postgres_ctl start
  touch "$RUN_DIR/postgres.started"   # so make down stops only what make up started
  wait_postgres
fi

# pg_stat_statements lets make bench count the statements an order costs. Loading it needs one
# restart of Postgres, done once, before any service connects.
if ! psql_admin -c "SHOW shared_preload_libraries" | grep -q pg_stat_statements; then
  say "enabling pg_stat_statements (one restart of Postgres)"
  current="$(psql_admin -c "SHOW shared_preload_libraries")"
  psql_admin -c "ALTER SYSTEM SET shared_preload_libraries = '${current:+$current,}pg_stat_statements'" >/dev/null
  postgres_ctl restart
  wait_postgres
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
