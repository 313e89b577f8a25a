#!/bin/sh
# make check-citus: the suites on a distributed cluster.  Makes sure Citus is
# installed (test/citus/ensure.sh), starts a coordinator and two workers
# (test/citus/cluster.sh), and against a database distributed with
# nilus.distribute() runs the pgTAP data tests, the HTTP suite against
# nilus-manager connected to the coordinator, and test/citus/placement.py
# (where tenants' shards and calls went, writes after a shard move).  The
# runners' summaries are repeated last.
#
# pgTAP files run here: the schema, health and info, the errors of every
# reading function.  Skipped, and why:
#   02 (tokens), 15 (declarations), 20 (insight): in one transaction they reach the same
#     shards as the superuser and through nilus' functions (which run as
#     nilus_owner); Citus keeps a connection per role and refuses (or waits
#     on) the second.
#   18 (least privilege): on a cluster nilus_owner must log in (distribute()
#     lets it; README, Scaling out), which 18 checks it cannot.
#   03 to 11 (access, runs, listings, stats, rollups, state, CDC): their
#     assertions wrap queries on the data tables in pgTAP's functions
#     (SELECT is((SELECT ... FROM nilus.pipeline_run WHERE tenant = ...), ...)),
#     which Citus's router planner pushes down whole to the tenant's worker,
#     where the test's plan and its pg_temp helpers do not exist; and 03 sets
#     another role after writing in the same transaction, which Citus refuses.
#     What they check is checked on the cluster by the HTTP suite (every route,
#     filter, total and error through the shim) and by placement.py (rollups
#     against the runs' aggregates, CDC order across a shard move).
#   14, 19, 20 (upgrades), 19_http_status (the function's upgrade): they drop and
#     re-create the extension, which would take the distributed tables with it;
#     make test runs them.
#   16, 17 (retention): retention does not run on a cluster yet (README, Scaling
#     out, Limits): nilus.retention_work() is a SQL function whose statements
#     Citus cannot plan, and 17's setup updates rows with stable functions.
#   21 (compact JSON): how the library writes a stored value, the same code on a
#     cluster; the HTTP suite checks it there (embedded_json_is_as_compact_as_the_answer).
set -eu
cd "$(dirname "$0")/../.."
. test/lib/run_suite.sh
skipped="02_tokens.sql 15_declarations.sql 18_least_privilege.sql 03_access_rls.sql 04_store_run.sql 05_list_pipelines.sql 06_list_runs.sql 07_stats.sql
08_rollups.sql 09_state.sql 10_offsets.sql 11_schema_history.sql 14_upgrade.sql 19_upgrade_least_privilege.sql 16_retention.sql 17_retention_apply.sql 20_upgrade_scale_out.sql
19_http_status.sql 20_insight.sql 21_compact_json.sql"
if [ "${NILUS_IN_CITUS_CLUSTER:-}" != 1 ]; then
	test/citus/ensure.sh
	summary=$(mktemp)
	trap 'rm -f "$summary"' EXIT
	status=0
	env NILUS_SUMMARY="$summary" test/citus/cluster.sh "$0" "$@" || status=$?
	echo "== summary (Citus: a coordinator and two workers)"
	cat "$summary"
	exit $status
fi

status=0
"$NILUS_CITUS_CREATEDB" nilus_test
psql -X -q -v ON_ERROR_STOP=1 -d nilus_test -c 'SET client_min_messages = warning' \
	-c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION nilus' -c 'SELECT nilus.distribute()'

tests=$(for t in test/sql/*.sql; do case " $(echo $skipped) " in *" ${t##*/} "*) ;; *) echo "$t" ;; esac; done)
# shellcheck disable=SC2086
run_suite "pgTAP on the cluster (pg_prove; the files skipped and why: see test/citus/run.sh)" pg_prove_summary \
	"Result: FAIL (pg_prove gave no summary)" pg_prove -d nilus_test $tests
run_suite "HTTP on the cluster (nilus-manager connected to the coordinator)" counts \
	"0 passed, 1 failed (HTTP suite gave no summary)" python3 test/http/run.py
run_suite "placement: shards and calls on the tenants' workers" counts \
	"0 passed, 1 failed (placement gave no summary)" python3 test/citus/placement.py
exit $status
