#!/bin/sh
# make demo: a throw-away PostgreSQL (pg_virtualenv) with the extension and
# sample data, and nilus-manager in the foreground until Ctrl-C.  Nothing
# outlives it: the cluster is dropped when the shim stops.
set -eu
cd "$(dirname "$0")/.."
if [ "${NILUS_IN_VIRTUALENV:-}" != 1 ]; then
    exec env NILUS_IN_VIRTUALENV=1 pg_virtualenv -t "$0" "$@"
fi

listen=${NILUS_LISTEN:-127.0.0.1:8080}
metrics=${NILUS_METRICS_LISTEN:-127.0.0.1:9090}
password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

createdb nilus_demo
psql -X -q -v ON_ERROR_STOP=1 -d nilus_demo <<SQL
CREATE EXTENSION nilus;
CREATE ROLE nilus_manager LOGIN PASSWORD '$password' IN ROLE nilus_api;
CREATE ROLE analyst_acme LOGIN PASSWORD '$password' IN ROLE nilus_analyst;
INSERT INTO nilus.tenant_role VALUES ('acme', 'analyst_acme');
SQL
echo "loading sample data ..."
psql -X -q -v ON_ERROR_STOP=1 -d nilus_demo -f scripts/demo-data.sql >/dev/null
token=$(psql -X -At -d nilus_demo -c "SELECT nilus.create_token('acme', ARRAY['read','runtime'], 'demo-acme')")
admin=$(psql -X -At -d nilus_demo -c "SELECT nilus.create_token(NULL, ARRAY['read','runtime'], 'demo-admin')")
resource=$(psql -X -At -d nilus_demo -c "SELECT resource_id FROM nilus.pipeline_run WHERE tenant = 'acme' LIMIT 1")
pipeline=$(psql -X -At -d nilus_demo -c "SELECT pipeline_name FROM nilus.cdc_offset WHERE tenant = 'acme' LIMIT 1")
base="http://$listen/nilus-manager/api/v1"
auth="Authorization: Bearer $token"

cat <<TXT

nilus demo: PostgreSQL at $PGHOST:$PGPORT (database nilus_demo), nilus-manager at http://$listen
  token for tenant acme (read, runtime): $token
  admin token (every tenant):            $admin
  analysts: psql "host=$PGHOST port=$PGPORT dbname=nilus_demo user=analyst_acme password=$password"

Try:
  curl -s -H "$auth" $base/health
  curl -s -H "$auth" $base/info
  curl -s -H "$auth" "$base/tenants/acme/pipelines?limit=5&is_success=false"
  curl -s -H "$auth" "$base/tenants/acme/pipelines/$resource/runs?limit=3"
  curl -s -H "$auth" "$base/tenants/acme/pipelines/$resource/stats?period=7d"
  curl -s -H "$auth" "$base/tenants/acme/cdc/offset-storage?limit=3"
  curl -s -H "$auth" "$base/tenants/acme/cdc/schema-history?limit=1"
  curl -s -H "$auth" -H 'Content-Type: application/json' -d '{"run_id":"$(cat /proc/sys/kernel/random/uuid)","resource_id":"$resource","pipeline_name":"demo","started_at":"$(date -u +%Y-%m-%dT%H:%M:%SZ)"}' $base/tenants/acme/pipeline/runs
  curl -s -H "$auth" $base/tenants/acme/pipeline/$pipeline/state
  curl -s -H "$auth" -H 'Content-Type: application/json' -d '{"state":{"cursor":42}}' $base/tenants/acme/pipeline/$pipeline/state
  curl -s -H "$auth" $base/tenants/acme/pipeline/$pipeline/offsets
  curl -s -H "$auth" -H 'Content-Type: application/json' -d '{"resource_id":"$resource","connector_name":"demo","offsets":[{"offset_key":"k","offset_val":"{\"lsn\":1}"}]}' $base/tenants/acme/pipeline/$pipeline/offsets
  curl -s -H "$auth" $base/tenants/acme/pipeline/$pipeline/schema-history
  curl -s -H "$auth" $base/tenants/acme/pipeline/$pipeline/schema-history/exists
  curl -s -H "$auth" $base/tenants/acme/storage/health
  curl -s http://$metrics/metrics
  docs: http://$listen/nilus-manager/docs  http://$listen/nilus-manager/redoc

Ctrl-C stops the shim and drops the cluster.
TXT
exec shim/nilus-manager --dsn "host=$PGHOST port=$PGPORT dbname=nilus_demo user=nilus_manager password=$password" \
    --listen "$listen" --metrics-listen "$metrics" --docs-dir shim/assets
