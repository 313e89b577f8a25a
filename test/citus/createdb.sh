#!/bin/sh
# createdb.sh NAME: a database NAME on the coordinator (the libpq
# environment) and on every worker (NILUS_CITUS_WORKER_PORTS), with Citus
# created in each, the coordinator in the metadata (so that reference tables
# have a placement it reads locally) and the workers registered.  Run by
# test/citus/cluster.sh's environment.
set -eu
db=$1
for port in $NILUS_CITUS_WORKER_PORTS; do
	createdb -p "$port" "$db"
	psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d "$db" -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION citus'
done
createdb "$db"
{
	echo "SET client_min_messages = warning;"
	echo "CREATE EXTENSION citus;"
	echo "SELECT citus_set_coordinator_host('127.0.0.1', $PGPORT);"
	for port in $NILUS_CITUS_WORKER_PORTS; do
		echo "SELECT citus_add_node('127.0.0.1', $port);"
	done
} | psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null
