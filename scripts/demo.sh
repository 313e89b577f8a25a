#!/bin/sh
# make demo: a throw-away PostgreSQL (pg_virtualenv) with the extension and
# sample data, and nilus-manager, until Ctrl-C or a SIGINT, SIGTERM or SIGHUP
# to this script's process.  Nothing outlives it: the shim stops, then the
# cluster is dropped.
#
# Two processes of this script: the outer one (the one a user, nohup or a
# supervisor starts and signals) runs pg_virtualenv in the background and
# turns any stop signal into a SIGTERM to the shim; the inner one runs inside
# pg_virtualenv, loads the data and becomes the shim.  Commands started in
# the background ignore SIGINT, so a Ctrl-C to the whole process group reaches
# the outer one only, and the stop is always the same ordered one.
set -eu
cd "$(dirname "$0")/.."

# ---- outer: supervise ----------------------------------------------------
if [ "${NILUS_IN_VIRTUALENV:-}" != 1 ]; then
    # A shell started in the background (`demo.sh &` from a script, some
    # supervisors) inherits SIGINT ignored, and may not trap it: start again
    # with the default, so that a SIGINT to this process always stops it.
    if [ "${NILUS_DEMO_SIGNALS:-}" != default ]; then
        NILUS_DEMO_SIGNALS=default exec env --default-signal=INT,TERM "$0" "$@"
    fi
    state=$(mktemp -d -t nilus-demo.XXXXXX)
    stopping=""
    trap 'stopping=1' INT TERM HUP
    env NILUS_IN_VIRTUALENV=1 NILUS_DEMO_STATE="$state" pg_virtualenv -t "$0" "$@" &
    child=$!

    # GNU make, told to stop by a SIGINT of its own, does not pass it on: it
    # resets its handler and waits for us.  So we stop when the process that
    # started us no longer catches a stop signal it caught before.  (One that
    # exits is no reason to stop: nohup's shell may end.)
    parent=$PPID
    caught() {
        [ "$(cut -d' ' -f4 /proc/$$/stat)" = "$parent" ] &&
            sed -n 's/^SigCgt:\t*[0-9a-f]\{8\}//p' "/proc/$parent/status" 2>/dev/null
    }
    parent_caught=$(caught) || true
    parent_stopping() {
        now=$(caught) || return 1
        [ -n "$parent_caught" ] && [ -n "$now" ] || return 1
        # SIGHUP, SIGINT and SIGTERM are bits 0, 1 and 14 of the mask.
        [ $(( (0x$parent_caught & ~0x$now) & 0x4003 )) -ne 0 ]
    }

    signalled=""
    while kill -0 "$child" 2>/dev/null; do
        [ -z "$stopping" ] && parent_stopping && stopping=1
        if [ -n "$stopping" ] && [ -z "$signalled" ] && [ -s "$state/shim.pid" ]; then
            kill -TERM "$(cat "$state/shim.pid")" 2>/dev/null || true
            signalled=1
        fi
        # In the background so that a trapped signal is handled at once.
        sleep 0.5 & wait $! 2>/dev/null || true
    done
    status=0
    wait "$child" || status=$?
    rm -rf "$state"
    # A stop asked for is a clean end, whatever the shim's exit said.
    [ -n "$stopping" ] && exit 0
    exit $status
fi

# ---- inner: inside pg_virtualenv ----------------------------------------
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

# Passwords go to a password file (libpq's PGPASSFILE), never on a command line.
passfile=$NILUS_DEMO_STATE/pgpass
(
    umask 077
    for login in "nilus_manager:$password" "analyst_acme:$password" "$PGUSER:$PGPASSWORD"; do
        echo "*:$PGPORT:nilus_demo:$login"
    done > "$passfile"
)

token=$(psql -X -At -d nilus_demo -c "SELECT nilus.create_token('acme', ARRAY['read','runtime'], 'demo-acme')")
admin=$(psql -X -At -d nilus_demo -c "SELECT nilus.create_token(NULL, ARRAY['read','runtime'], 'demo-admin')")
batch=workflow:v1:orders-sync:public
cdc_resource=service:v1:pg-orders-cdc:public
cdc_pipeline=pg-orders-cdc
base="http://$listen/nilus-manager/api/v1"
t="$base/tenants/acme"
json="-H 'Content-Type: application/json'"
auth='-H "Authorization: Bearer $NILUS_TOKEN"'
uuid() { cat /proc/sys/kernel/random/uuid; }

cat <<TXT

nilus demo: PostgreSQL at $PGHOST:$PGPORT (database nilus_demo), nilus-manager at http://$listen
  token for tenant acme (read, runtime): $token
  admin token (every tenant):            $admin

In another shell:
  export PGPASSFILE=$passfile
  export NILUS_URL=$base NILUS_TOKEN=$token
  psql "host=$PGHOST port=$PGPORT dbname=nilus_demo user=$PGUSER"          # admin (superuser)
  psql "host=$PGHOST port=$PGPORT dbname=nilus_demo user=analyst_acme"      # analyst of tenant acme

Every operation (curl ... | python3 -m json.tool to read it indented):
  curl -s $auth \$NILUS_URL/health
  curl -s $auth \$NILUS_URL/info
  curl -s $auth "\$NILUS_URL/tenants/acme/pipelines?limit=5&is_success=false"
  curl -s $auth "\$NILUS_URL/tenants/acme/pipelines/$batch/runs?limit=3"
  curl -s $auth "\$NILUS_URL/tenants/acme/pipelines/$batch/stats?period=7d"
  curl -s $auth "\$NILUS_URL/tenants/acme/pipelines/$batch/series?period=3d&bucket=1d"
  curl -s $auth "\$NILUS_URL/tenants/acme/stats?period=7d&limit=5"
  curl -s $auth "\$NILUS_URL/tenants/acme/cdc/offset-storage?connector_name=pg-orders-connector&limit=3"
  curl -s $auth "\$NILUS_URL/tenants/acme/cdc/schema-history?limit=1"
  curl -s $auth $json -d '{"run_id":"$(uuid)","resource_id":"$batch","pipeline_name":"orders-sync","run_as_user":"svc-nilus","started_at":"$(date -u +%Y-%m-%dT%H:%M:%SZ)"}' \$NILUS_URL/tenants/acme/pipeline/runs
  curl -s $auth \$NILUS_URL/tenants/acme/pipeline/orders-sync/state
  curl -s $auth $json -d '{"state":{"cursor":42000},"run_id":"$(uuid)"}' \$NILUS_URL/tenants/acme/pipeline/orders-sync/state
  curl -s $auth \$NILUS_URL/tenants/acme/pipeline/$cdc_pipeline/offsets
  curl -s $auth $json -d '{"resource_id":"$cdc_resource","connector_name":"pg-orders-connector","offsets":[{"offset_key":"{\\"server\\":\\"$cdc_pipeline\\",\\"partition\\":0}","offset_val":"{\\"lsn\\":25000000,\\"txId\\":900201}","id":"$(uuid)"}]}' \$NILUS_URL/tenants/acme/pipeline/$cdc_pipeline/offsets
  curl -s $auth \$NILUS_URL/tenants/acme/pipeline/$cdc_pipeline/schema-history
  curl -s $auth $json -d '{"resource_id":"$cdc_resource","connector_name":"pg-orders-connector","records":[{"history_data":"{\\"ddl\\":\\"ALTER TABLE app.orders ADD COLUMN note text\\"}","id":"$(uuid)"}]}' \$NILUS_URL/tenants/acme/pipeline/$cdc_pipeline/schema-history
  curl -s $auth \$NILUS_URL/tenants/acme/pipeline/$cdc_pipeline/schema-history/exists
  curl -s $auth \$NILUS_URL/tenants/acme/storage/health
  curl -s http://$metrics/metrics
  docs: http://$listen/nilus-manager/docs  http://$listen/nilus-manager/redoc

Ctrl-C (or SIGINT/SIGTERM to this process) stops the shim and drops the cluster.
TXT

# The shim reads its DSN from the environment and the password from the file.
echo $$ > "$NILUS_DEMO_STATE/shim.pid"
unset PGPASSWORD
exec env PGPASSFILE="$passfile" NILUS_DSN="host=$PGHOST port=$PGPORT dbname=nilus_demo user=nilus_manager" \
    "${NILUS_MANAGER_BIN:-shim/nilus-manager}" --listen "$listen" --metrics-listen "$metrics" \
    --docs-dir "${NILUS_DOCS_DIR:-shim/assets}"
