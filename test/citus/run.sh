#!/bin/sh
# make check-citus: the suites on a distributed cluster.  Makes sure Citus is
# installed (test/citus/ensure.sh), starts a coordinator and two workers
# (test/citus/cluster.sh), and against a database distributed with
# nilus.distribute() runs the pgTAP data tests, the HTTP suite against
# nilus-manager connected to the coordinator, and test/citus/placement.py
# (where tenants' shards and calls went, writes after a shard move).  The
# runners' summaries are repeated last.
#
# pgTAP on the cluster.  Every data test runs but the ones named below, in a
# database of its own whose distributed tables keep their shards on the
# coordinator, where pg_prove's session runs: each pgTAP file is one
# transaction that writes through nilus' functions, which run as nilus_owner
# (SECURITY DEFINER), and reads back as the suite's superuser, and Citus
# refuses, in one transaction, to reach over a connection a placement that
# another role modified ("cannot perform query on placements that were
# modified in this transaction by a different user"); on the coordinator
# Citus executes the shards' statements in the session itself (its local
# execution), so the tests see their writes.  The workers hold the reference
# tables' copies.  What crosses nodes (delegation, shards on the workers,
# retention's batches there) is checked by the HTTP suite and placement.py.
#
# 06 (list_runs), 08, 10 (offsets), 11 (schema history) call nilus' functions
# inside queries over the data tables; they run with Citus's nested
# execution allowed for their transaction (test/sql/lib/nested_calls.psql:
# every shard of this database is on the coordinator).
#
# 07 (stats) and 08 (rollups) draw the runs their corrections take first,
# and apply them by (tenant, run_id): Citus takes no random() in an UPDATE
# of a distributed table.  08 moves runs between tenants on one server only:
# on a cluster the tenant is the distribution column, which Citus lets no
# UPDATE change.
#
# 02 (tokens), 03 (access), 20_insight write the reference tables (tokens,
# tenant roles) as the superuser and through nilus' token functions in one
# transaction: on a cluster a superuser's token call writes as that superuser
# (extension/spi.h), so Citus reaches the tables' copies on the workers over
# one role's connections.
#
# Skipped, and why:
#   18 (least privilege): (a) its first assertion is that nilus_owner cannot
#     log in, which distribute() changes on a cluster (README, Scaling out;
#     placement.py checks the cluster's rule: LOGIN without a password,
#     refused but from the nodes); (b) it checks that DELETE ... WHERE false
#     on the append-only tables is refused, and Citus prunes such a statement
#     to no shard, where the guard's statement trigger does not fire
#     (nothing is deleted either); (c) a role granted EXECUTE on create_token
#     creates a token (as nilus_owner) in the transaction in which the
#     superuser wrote the reference tables, which Citus refuses (a
#     distributed deadlock between the two roles' connections).  None can be
#     restated without weakening one node: (a) is a rule that differs by
#     design; (b) asserts that the guard refuses a rewrite that matches no
#     row, which a DELETE matching rows would not; (c) is the file's single
#     transaction, and (a) alone keeps the file off the cluster.
#   16 (retention): under a default policy, nilus.retention_work() takes the
#     tenants that have data from nilus.data_tenants(), which on a cluster
#     lists each shard's tenants with run_command_on_shards, over connections
#     of its own that see committed rows only; the file stores its data and
#     prunes it in one transaction, so on a cluster retention_work() does not
#     list the tenants whose data the file wrote (its assertion 29 fails, and
#     the prunes after it remove nothing).  The extension keeps it so:
#     data_tenants() skips through the tenant-leading indexes (one probe per
#     tenant), a recursive CTE, which Citus runs only as a query routed by
#     tenant, never over all shards; the distributed query that would see the
#     transaction's writes (SELECT DISTINCT tenant, pushed down to every
#     shard) reads every index entry of every shard, at each interval of the
#     retention worker and each scrape of retention_metrics(); and what users
#     run, CALL nilus.apply_retention(), commits batch by batch outside a
#     transaction block, so the writes it prunes are committed.  placement.py
#     checks a prune on the workers (rows gone, rollups exact) by CALL
#     nilus.apply_retention() and by the background worker; 17 runs
#     (apply_retention beside concurrent writes).
#   14, 19, 20 (upgrades), 19_http_status (the function's upgrade): they drop
#     and re-create the extension, which would take the distributed tables
#     with it (and 19_http_status asserts that the server does not preload
#     nilus, which the cluster's nodes do); make test runs them.  placement.py upgrades a 0.2.0
#     installation on the cluster (ALTER EXTENSION nilus UPDATE, then
#     distribute()) and checks that the API serves its history.
set -eu
cd "$(dirname "$0")/../.."
skipped="18_least_privilege.sql 16_retention.sql 14_upgrade.sql 19_upgrade_least_privilege.sql 20_upgrade_scale_out.sql
19_http_status.sql"
. test/lib/run_suite.sh
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
# The data tests' shards on the coordinator, where the tests' session runs
# (why: the header); the workers hold the reference tables' copies.
{
	echo "SELECT citus_set_node_property('127.0.0.1', $PGPORT, 'shouldhaveshards', true);"
	for port in $NILUS_CITUS_WORKER_PORTS; do
		echo "SELECT citus_set_node_property('127.0.0.1', $port, 'shouldhaveshards', false);"
	done
} | psql -X -q -v ON_ERROR_STOP=1 -d nilus_test >/dev/null
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
