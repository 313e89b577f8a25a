# Shell functions the benchmark scripts share (sourced from the repository's top).

# read_options SCRIPT "NAME ..." ARG...: each `--NAME VALUE` among the ARGs
# sets the variable NAME (dashes as underscores) to VALUE; a NAME ending in
# "?" is a flag (`--NAME` sets it to 1); -h or --help prints the script's
# header comment (up to "set -eu") and exits.  With "..." among the NAMEs the
# words after the options are the script's (options_read says how many ARGs
# were options: shift them); without it, and for an unknown option or a
# missing value, the script ($0, named SCRIPT in the message) ends with 2.
read_options() {
	script=$1 names=" $2 "
	shift 2
	options_read=0
	while [ $# -gt 0 ]; do
		case $1 in
		-h | --help) sed -n '2,/^set -eu/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
		--*[!a-z-]* | --) unknown_option "$script" "$1" ;;
		--*) ;;
		*) case $names in *" ... "*) return 0 ;; esac
			unknown_option "$script" "$1" ;;
		esac
		name=${1#--}
		variable=$(echo "$name" | tr - _)
		case $names in
		*" $name? "*) eval "$variable=1"; taken=1 ;;
		*" $name "*)
			[ $# -ge 2 ] || { echo "$script: $1 needs a value" >&2; exit 2; }
			eval "$variable=\$2"; taken=2 ;;
		*) unknown_option "$script" "$1" ;;
		esac
		shift $taken
		options_read=$((options_read + taken))
	done
}

unknown_option() {
	echo "$1: unknown option $2 (see the comment at the top of $0)" >&2
	exit 2
}

# Runs the script (its path and arguments) again inside a throw-away
# PostgreSQL, unless it already runs in one.  fsync back on (pg_virtualenv
# turns it off): commits must be durable for the write figures to mean
# anything.  Memory as a small production box.  NILUS_BENCH_DESTDIR=DIR:
# the server loads nilus from a staged install (make install DESTDIR=DIR,
# Debian's extension_destdir) instead of the shared one, so that two builds
# can be measured one after the other without the install lock.
in_bench_cluster() {
	[ "${NILUS_BENCH_IN_VIRTUALENV:-}" != 1 ] || return 0
	set -- -o fsync=on -o shared_buffers=1GB -o max_wal_size=8GB -o checkpoint_timeout=30min \
		-o work_mem=16MB -o maintenance_work_mem=256MB "$@"
	if [ -n "${NILUS_BENCH_DESTDIR:-}" ]; then
		libdir=$(pg_config --pkglibdir)
		set -- -o "extension_destdir=$NILUS_BENCH_DESTDIR" \
			-o "dynamic_library_path=$NILUS_BENCH_DESTDIR$libdir:$libdir" "$@"
	fi
	exec env NILUS_BENCH_IN_VIRTUALENV=1 pg_virtualenv -t "$@"
}

# p50, p99 and mean (ms) of the latencies (µs, 3rd field) in pgbench's logs
# $1.*; with $2, of script number $2 only (4th field: -f's order from 0).
log_percentiles() {
	cat "$1".* | awk -v script="${2:-}" 'script == "" || $4 == script { print $3 }' | sort -n | awk '
		{ v[NR] = $1; sum += $1 }
		END { if (NR == 0) { print "- - -"; exit }
		      i50 = int(NR * 0.50); i99 = int(NR * 0.99)
		      printf "%.3f %.3f %.3f\n", v[i50 < 1 ? 1 : i50] / 1000, v[i99 < 1 ? 1 : i99] / 1000, sum / NR / 1000 }'
}

# Timestamped progress on stderr.
say() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Creates database $1 (exported as PGDATABASE) with nilus, and the login role
# $api_role in nilus_api with the password $api_password (both set here), as
# the shim's and pgbench's role.
create_bench_database() {
	export PGDATABASE=$1
	api_role=nilus_bench_api
	api_password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	createdb "$PGDATABASE"
	psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION nilus;
CREATE ROLE $api_role LOGIN PASSWORD '$api_password' IN ROLE nilus_api;
SQL
}

# A port nobody listens on (the shim would refuse a busy one).
free_port() {
	p=$(( $(od -An -N2 -tu2 /dev/urandom) % 20000 + 30000 ))
	while ss -Hltn "sport = :$p" | grep -q .; do p=$((p + 1)); done
	echo $p
}

# Starts the shim $1 (then its flags) on 127.0.0.1:$port, its log in
# $work/shim.log, and sets shim_pid once it answers; exits 1 with its log
# when it does not.  stop_shim stops it.
start_shim() {
	binary=$1
	shift
	"$binary" --listen "127.0.0.1:$port" --metrics-listen none "$@" 2>"$work/shim.log" &
	shim_pid=$!
	tries=0
	until curl -s -o /dev/null "http://127.0.0.1:$port/"; do
		tries=$((tries + 1))
		[ $tries -lt 100 ] && kill -0 "$shim_pid" 2>/dev/null || { cat "$work/shim.log" >&2; exit 1; }
		sleep 0.1
	done
}

stop_shim() {
	kill "$shim_pid"
	wait "$shim_pid" 2>/dev/null || true
	shim_pid=
}
