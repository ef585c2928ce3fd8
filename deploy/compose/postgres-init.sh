#!/bin/sh
# First start of the compose PostgreSQL (docker-entrypoint-initdb.d): the roles of tools/stack's
# pg_ensure_app_db. The services connect as `meterlink`, which owns the database but is no
# superuser; the registry's and the orchestrator's schemas belong to `meterlink_owner`, which
# runs their migrations (DATABASE_OWNER_URL), so their own role may only append to their audit
# logs.
# Development passwords, as the local stack's; in production use your own roles and secrets.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<'SQL'
CREATE ROLE meterlink LOGIN PASSWORD 'meterlink';
CREATE ROLE meterlink_owner LOGIN PASSWORD 'meterlink_owner';
CREATE DATABASE meterlink OWNER meterlink;
GRANT CONNECT, CREATE ON DATABASE meterlink TO meterlink_owner;
SQL
