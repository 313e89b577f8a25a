#!/bin/bash
# Runs a command beside a throw-away Citus cluster on this machine: a
# coordinator (pg_virtualenv's cluster VERSION/regress: PGPORT, PGUSER and
# PGPASSWORD name it as in the other suites) and two workers, each with
# shared_preload_libraries = citus, trust authentication on loopback and free
# ports.  Every cluster is stopped and dropped when the command ends, however
# it ends; as root the servers run as the postgres user, like pg_virtualenv's.
#
#   test/citus/cluster.sh COMMAND [ARGS...]
#
# The command finds, besides the libpq environment of the coordinator:
#   NILUS_CITUS_WORKER_PORTS  the workers' ports, space-separated
#   NILUS_CITUS_LOGS          the server logs of the coordinator and the
#                             workers, in that order, space-separated
#   NILUS_CITUS_CREATEDB      a command that makes a database NAME on every
#                             node, with Citus in it and the workers registered
#                             (Citus's metadata is per database)
# Needs Citus installed for the pg_config PostgreSQL (test/citus/ensure.sh).
set -eu
here=$(cd "$(dirname "$0")" && pwd)

# Settings of every node; C functions' calls are counted (test/citus/placement.py);
# the nodes reach each other on 127.0.0.1, the tests and the API connect on ::1.
# nilus is preloaded after citus (which must come first), its retention worker
# idle until a test sets an interval (placement.py).
# NILUS_CITUS_DESTDIR=DIR: the nodes load nilus from a staged install (make
# install DESTDIR=DIR) instead of the shared one (Debian's extension_destdir).
options="shared_preload_libraries=citus,nilus nilus.retention_interval=0 max_prepared_transactions=100 citus.node_conninfo=sslmode=prefer
track_functions=all listen_addresses=127.0.0.1,::1"
if [ -n "${NILUS_CITUS_DESTDIR:-}" ]; then
	libdir=$(pg_config --pkglibdir)
	options="$options extension_destdir=$NILUS_CITUS_DESTDIR dynamic_library_path=$NILUS_CITUS_DESTDIR$libdir:$libdir"
fi
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The servers outlive nothing of this script, but they would keep open the
# descriptors they inherit: a run under `flock /tmp/nilus-install.lock`
# (CONTRIBUTING.md) whose servers were left behind by a kill would hold the
# lock.  So the lock file's descriptors are closed before any server starts
# (flock itself holds the lock; NILUS_INSTALL_LOCK: another lock file).
close_install_lock() {
	lock=$(readlink -f "${NILUS_INSTALL_LOCK:-/tmp/nilus-install.lock}")
	for fd in /proc/$$/fd/*; do
		fd=${fd##*/}
		if [ "$fd" -gt 2 ] && [ "$(readlink "/proc/$$/fd/$fd")" = "$lock" ]; then
			eval "exec $fd>&-"
		fi
	done
}
close_install_lock

if [ "${NILUS_IN_CITUS_CLUSTER:-}" != 1 ]; then
	# A free port of the kernel's choice: parallel pg_virtualenvs race for 5432 and up.
	# shellcheck disable=SC2046
	exec env NILUS_IN_CITUS_CLUSTER=1 PGPORT="$(free_port)" pg_virtualenv -t $(printf -- '-o %s ' $options) "$0" "$@"
fi

version=$(ls "$PG_CLUSTER_CONF_ROOT")	# pg_virtualenv made one cluster: $version/regress
workdir=$(dirname "$PG_CLUSTER_CONF_ROOT")
workers="worker1 worker2"
ports=
logs="$workdir/log/postgresql-$version-regress.log"

# On failure the workers' logs are shown, as pg_virtualenv shows the coordinator's.
stop_workers() {
	status=$?
	for name in $workers; do
		log="$workdir/log/postgresql-$version-$name.log"
		if [ $status != 0 ] && [ -f "$log" ]; then
			echo "*** $log (last 60 lines) ***"
			tail -60 "$log"
		fi
		[ -d "$PG_CLUSTER_CONF_ROOT/$version/$name" ] || continue
		pg_ctlcluster --mode immediate "$version" "$name" stop 2>/dev/null || true
		pg_dropcluster "$version" "$name" 2>/dev/null || true
	done
}
trap stop_workers EXIT
trap 'exit 130' INT TERM HUP

# Every node accepts its peers and the tests over loopback without a password;
# nilus_owner, which Citus connects as (README, Scaling out), only from the
# nodes' address (127.0.0.1, what they are registered as), not from where the
# tests and the API connect (::1, the socket).
trust_loopback() {
	hba=$(pg_conftool -s "$version" "$1" show hba_file)
	{ printf 'host all nilus_owner 127.0.0.1/32 trust\nhost all nilus_owner all reject\nlocal all nilus_owner reject\n'
	  printf 'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n'; cat "$hba"; } > "$hba.new"
	chown --reference="$hba" "$hba.new"
	mv "$hba.new" "$hba"
}

for name in $workers; do
	port=$(free_port)
	# shellcheck disable=SC2046
	(cd / && pg_createcluster --quiet -p "$port" -d "$workdir/data/$version/$name" \
		-l "$workdir/log/postgresql-$version-$name.log" --pgoption fsync=off \
		$(printf -- '--pgoption %s ' $options) \
		"$version" "$name" -- --username="$PGUSER" --pwfile="$workdir/postgresql-common/pwfile" --nosync)
	trust_loopback "$name"
	pg_ctlcluster "$version" "$name" start -- -c	# -c: core files, for a backtrace
	ports="$ports $port"
	logs="$logs $workdir/log/postgresql-$version-$name.log"
done
trust_loopback regress
pg_ctlcluster "$version" regress reload

export PGHOST=::1
export NILUS_CITUS_WORKER_PORTS="${ports# }"
export NILUS_CITUS_LOGS="$logs"
export NILUS_CITUS_CREATEDB="$here/createdb.sh"
"$@"
