#!/bin/sh
# The whole benchmark of issue 4 in one run, in a throw-away PostgreSQL
# (pg_virtualenv): load history with bench/generate.sh, measure each route's
# SQL function with pgbench (the floor) and the same route through
# nilus-manager with wrk, the latency of stats and listings at 50k and at 5M
# runs and of get_offsets at 1k and 1M offset records, the shim's memory
# under 256 keep-alive connections; then print the figures and the targets.
#
#   bench/run.sh [--quick] [--concurrency N] [--duration S] [--warmup S]
#                [--scale-duration S] [-- generate.sh options]
#   bench/run.sh --database NAME [options]
#
# --database NAME: measure a database already loaded by bench/generate.sh,
# on the server the libpq environment names (PGHOST, PGPORT, PGUSER: a
# superuser), instead of a fresh pg_virtualenv cluster; nothing is loaded.
#
# Defaults: concurrency 8 (wrk connections, pgbench clients and the shim's
# database connections alike), 8 s per measurement after 2 s of warm-up,
# 4 s per scaling measurement (one client); the data of generate.sh's
# defaults (5M runs).  --quick: small scale and short runs, a smoke check of
# the benchmark itself (its ratios mean little).  Needs the extension
# installed (make install) and the shim built (shim/nilus-manager, or
# NILUS_MANAGER=path).
set -eu
cd "$(dirname "$0")/.."
reuse=
for arg; do
	case $arg in -h | --help) sed -n '2,/^set -eu/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
	[ "$reuse" != next ] || reuse=$arg
	[ "$arg" != --database ] || reuse=next
done
if [ "${NILUS_BENCH_IN_VIRTUALENV:-}" != 1 ] && ! command -v wrk >/dev/null; then
	NILUS_BENCH_DEPS=1 scripts/install-deps.sh
fi
. bench/lib.sh
[ -n "$reuse" ] || in_bench_cluster "$0" "$@"

concurrency=8 duration=8 warmup=2 scale_duration=4 scale_warmup=1 quick=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 duration=2 warmup=1 scale_duration=2 scale_warmup=1 ;;
	--concurrency) concurrency=$2; shift ;;
	--duration) duration=$2; shift ;;
	--warmup) warmup=$2; shift ;;
	--scale-duration) scale_duration=$2; shift ;;
	--database) shift ;;
	--) shift; break ;;
	*) echo "run.sh: unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
	esac
	shift
done
if [ $quick = 1 ]; then
	set -- --large-runs 20000 --small-runs 2000 --tenants 1 --large-offsets 20000 --connectors 1 "$@"
fi

bench=$PWD/bench
shim=${NILUS_MANAGER:-$PWD/shim/nilus-manager}
work=$(mktemp -d /tmp/nilus-bench.XXXXXX)
shim_pid=
cleanup() {
	[ -n "$shim_pid" ] && kill "$shim_pid" 2>/dev/null && wait "$shim_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ -x "$shim" ] || { echo "run.sh: no $shim (run make first)" >&2; exit 1; }

#---------------------------------------------------------------------------
# Database, role, tokens, data
#---------------------------------------------------------------------------
export PGDATABASE=${reuse:-nilus_bench}
export PGHOST=${PGHOST:-/var/run/postgresql} PGPORT=${PGPORT:-5432}
api_role=nilus_bench_api
api_password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
[ -n "$reuse" ] || { createdb nilus_bench && psql -X -q -c 'CREATE EXTENSION nilus'; }
psql -X -q -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages = warning;
DROP ROLE IF EXISTS $api_role;
CREATE ROLE $api_role LOGIN PASSWORD '$api_password' IN ROLE nilus_api;
SQL
token_large=$(psql -X -At -c "SELECT nilus.create_token('large', ARRAY['read', 'runtime'], 'bench-large-' || extract(epoch FROM now())::bigint)")
token_small=$(psql -X -At -c "SELECT nilus.create_token('small', ARRAY['read', 'runtime'], 'bench-small-' || extract(epoch FROM now())::bigint)")

if [ -z "$reuse" ]; then
	say "loading history (bench/generate.sh $*)"
	"$bench/generate.sh" "$@" >&2
fi
large_runs=$(psql -X -At -c "SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'large'")
small_runs=$(psql -X -At -c "SELECT count(*) FROM nilus.pipeline_run WHERE tenant = 'small'")
offsets_1m=$(psql -X -At -c "SELECT count(*) FROM nilus.cdc_offset WHERE tenant = 'large' AND pipeline_name = 'cdc-1m'")
offsets_1k=$(psql -X -At -c "SELECT count(*) FROM nilus.cdc_offset WHERE tenant = 'large' AND pipeline_name = 'cdc-1k'")
resources=$(psql -X -At -c "SELECT count(DISTINCT resource_id) FROM nilus.pipeline_run WHERE tenant = 'large'")

#---------------------------------------------------------------------------
# nilus-manager, one database connection per concurrent client
#---------------------------------------------------------------------------
api_port=$(free_port)
metrics_port=$(free_port)
[ "$metrics_port" != "$api_port" ] || metrics_port=$((api_port + 1))
# The password in the environment, not on the command line (the shim warns about that).
NILUS_DSN="host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$api_role password=$api_password" \
	"$shim" --listen "127.0.0.1:$api_port" --metrics-listen "127.0.0.1:$metrics_port" \
	--threads "$concurrency" 2>"$work/shim.log" &
shim_pid=$!
tries=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$metrics_port/readiness")" = 200 ]; do
	tries=$((tries + 1))
	if [ $tries -gt 100 ] || ! kill -0 "$shim_pid" 2>/dev/null; then
		echo "run.sh: nilus-manager did not become ready:" >&2
		tail -5 "$work/shim.log" >&2
		exit 1
	fi
	sleep 0.1
done
base="http://127.0.0.1:$api_port"

#---------------------------------------------------------------------------
# Measuring: each measurement appends one line to $results; a failed one
# leaves $work/failed behind (the run then exits 1).
#---------------------------------------------------------------------------
results=$work/results
: >"$results"
failure() {
	echo "run.sh: $*" >&2
	: >"$work/failed"
}


# pgbench: name script setting token tenant clients seconds warmup_seconds.
# Appends "pgbench name tps p50 p99 mean"; setting is k=v (a pgbench
# variable) or -.
pgbench_run() {
	local name=$1 script=$2 setting=$3 token=$4 tenant=$5 clients=$6 seconds=$7 warm=$8 tps
	set -- -n -M prepared -c "$clients" -j "$(( clients < 2 ? 1 : 2 ))" -f "$bench/pgbench/$script" \
		-D token="$token" -D tenant="$tenant" -D resources="$resources" \
		-D pipeline=cdc-1m -D writers=64
	[ "$setting" = - ] || set -- "$@" -D "$setting"
	PGUSER=$api_role PGPASSWORD=$api_password pgbench "$@" -T "$warm" >/dev/null 2>&1 || true
	rm -f "$work"/pgb.*
	if ! PGUSER=$api_role PGPASSWORD=$api_password pgbench "$@" -T "$seconds" \
		--log --log-prefix="$work/pgb" >"$work/pgbench.out" 2>&1 ||
		grep -q '^number of failed transactions: [1-9]' "$work/pgbench.out"; then
		failure "pgbench $name failed: $(grep -m1 -i error "$work/pgbench.out" || tail -1 "$work/pgbench.out")"
		return
	fi
	tps=$(sed -n 's/^tps = \([0-9]*\)[.0-9]* .*/\1/p' "$work/pgbench.out")
	echo "pgbench $name $tps $(log_percentiles "$work/pgb")" >>"$results"
}

# wrk: script setting connections seconds [extra environment]; prints its
# RESULT line (see bench/wrk/common.lua) or nothing.
wrk_result() {
	local script=$1 setting=$2 connections=$3 seconds=$4
	shift 4
	[ "$setting" = - ] || set -- "$@" "NILUS_$(echo "${setting%%=*}" | tr a-z A-Z)=${setting#*=}"
	env NILUS_BENCH_DIR="$bench" NILUS_TOKEN="$token_large" NILUS_TENANT=large NILUS_RESOURCES="$resources" \
		NILUS_PIPELINE=cdc-1m NILUS_WRITERS=64 "$@" \
		wrk -t 2 -c "$connections" -d "${seconds}s" -s "$bench/wrk/$script" "$base" >"$work/wrk.out" 2>&1 || true
	grep '^RESULT ' "$work/wrk.out" || true
}

# wrk (warmed up): name script setting.  Appends
# "wrk name rps p50 p99 mean socket_errors http_errors".
wrk_run() {
	local name=$1 script=$2 setting=$3
	wrk_result "$script" "$setting" "$concurrency" "$warmup" >/dev/null
	set -- $(wrk_result "$script" "$setting" "$concurrency" "$duration")
	if [ $# -ne 8 ]; then
		failure "wrk $name failed: $(tail -1 "$work/wrk.out")"
		return
	fi
	echo "wrk $name $3 $4 $5 $6 $7 $8" >>"$results"
	[ "$7" = 0 ] && [ "$8" = 0 ] || failure "wrk $name: $7 socket errors, $8 non-2xx responses"
}

# The routes: name, pgbench script, wrk script, setting (k=v given to both as
# pgbench variable k and environment variable NILUS_K), kind.
routes() {
	cat <<'EOF'
stats_24h             stats.sql              stats.lua          period=24h          read
stats_7d              stats.sql              stats.lua          period=7d           read
stats_30d             stats.sql              stats.lua          period=30d          read
pipelines             pipelines.sql          pipelines.lua      filter=none         read
pipelines_resource_id pipelines_resource.sql pipelines.lua      filter=resource_id  read
pipelines_is_success  pipelines_failed.sql   pipelines.lua      filter=is_success   read
pipelines_started_at  pipelines_range.sql    pipelines.lua      filter=started_at   read
runs                  runs.sql               runs.lua           -                   read
get_offsets           get_offsets.sql        get_offsets.lua    -                   read
store_offsets         store_offsets.sql      store_offsets.lua  -                   write
store_run             store_run.sql          store_run.lua      -                   write
EOF
}

# Floor and HTTP of each route of a kind, one route after the other.
measure_routes() {
	routes | while read -r name sql lua setting kind; do
		[ "$kind" = "$1" ] || continue
		say "$name: pgbench, then wrk, ${duration}s each at concurrency $concurrency"
		pgbench_run "$name" "$sql" "$setting" "$token_large" large "$concurrency" "$duration" "$warmup"
		wrk_run "$name" "$lua" "$setting"
	done
}

# Scaling: one client, the same call on both tenants (or both pipelines).
measure_scaling() {
	routes | while read -r name sql lua setting kind; do
		case $name in stats_* | pipelines* | runs) ;; *) continue ;; esac
		say "$name: latency at $large_runs and at $small_runs runs"
		pgbench_run "scale_large_$name" "$sql" "$setting" "$token_large" large 1 "$scale_duration" "$scale_warmup"
		pgbench_run "scale_small_$name" "$sql" "$setting" "$token_small" small 1 "$scale_duration" "$scale_warmup"
	done
	say "get_offsets: latency at $offsets_1m and at $offsets_1k offset records"
	pgbench_run scale_large_get_offsets get_offsets.sql pipeline=cdc-1m "$token_large" large 1 "$scale_duration" "$scale_warmup"
	pgbench_run scale_small_get_offsets get_offsets.sql pipeline=cdc-1k "$token_large" large 1 "$scale_duration" "$scale_warmup"
}

vmrss() { awk '/^VmRSS/ { print $2 }' "/proc/$shim_pid/status"; }

# The shim's resident memory while 256 keep-alive connections hammer it.
# Appends "memory max_rss_kib max_connections rss_before_kib rps p50 p99
# socket_errors http_errors".
measure_memory() {
	say "nilus-manager memory under 256 keep-alive connections"
	local rss_before wrk_pid max_rss=0 max_conns=0 rss conns
	rss_before=$(vmrss)
	wrk_result pipelines.lua filter=resource_id 256 "$((duration + 2))" >"$work/wrk256" &
	wrk_pid=$!
	while kill -0 "$wrk_pid" 2>/dev/null; do
		rss=$(vmrss)
		conns=$(ss -Htn state established "sport = :$api_port" | wc -l)
		[ "$rss" -gt "$max_rss" ] && max_rss=$rss
		[ "$conns" -gt "$max_conns" ] && max_conns=$conns
		sleep 0.25
	done
	wait "$wrk_pid" || true
	set -- $(cat "$work/wrk256")
	[ $# -eq 8 ] || { failure "wrk -c256 failed"; set -- RESULT 0 0 0 0 0 0 0; }
	echo "memory $max_rss $max_conns $rss_before $3 $4 $5 $7 $8" >>"$results"
	[ "$max_conns" -ge 256 ] || failure "only $max_conns of 256 connections were established"
	[ "$7" = 0 ] && [ "$8" = 0 ] || failure "wrk -c256: $7 socket errors, $8 non-2xx responses"
}

# The write benchmarks put their runs into the last hour or two: stats_24h
# again, against its figure from before them (measure_scaling).  Appends
# "hour_runs n", the tenant's runs started in the hour of now.
measure_after_writes() {
	say "stats_24h: latency after the writes"
	pgbench_run after_writes_stats_24h stats.sql period=24h "$token_large" large 1 "$scale_duration" "$scale_warmup"
	echo "hour_runs $(psql -X -At -c "SELECT count(*) FROM nilus.pipeline_run
		WHERE tenant = 'large' AND started_at >= date_trunc('hour', now())")" >>"$results"
}

measure_routes read
measure_scaling
measure_memory
measure_routes write
measure_after_writes

#---------------------------------------------------------------------------
# Report
#---------------------------------------------------------------------------
fs() { awk -v k="$1" -v n="$2" -v f="$3" '$1 == k && $2 == n { print $f; exit }' "$results"; }
# ratio a/b, then "met" or "MISSED" against limit with op (>= or <=).
judge() { awk -v a="$1" -v b="$2" -v lim="$3" -v op="$4" 'BEGIN {
	if (a == "" || b == "" || b + 0 == 0) { print "n/a n/a"; exit }
	r = a / b; ok = (op == ">=") ? (r >= lim) : (r <= lim)
	printf "%.2f %s\n", r, ok ? "met" : "MISSED" }'; }

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo
echo "nilus benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($cpu), $(free -g | awk '/^Mem/ { print $2 }') GiB RAM"
echo "PostgreSQL $(psql -X -At -c 'SHOW server_version'), fsync on, synchronous_commit $(psql -X -At -c 'SHOW synchronous_commit')," \
	"shared_buffers $(psql -X -At -c 'SHOW shared_buffers'); nilus-manager --threads $concurrency"
echo "data: tenant large $large_runs runs, tenant small $small_runs runs, $resources pipelines each;" \
	"offsets $offsets_1m (cdc-1m) and $offsets_1k (cdc-1k) records"
[ $quick = 1 ] && echo "QUICK MODE: small data, short runs; the figures only show that the benchmark works"
echo
echo "1. HTTP (wrk -t2 -c$concurrency, keep-alive) against the floor (pgbench -M prepared -c$concurrency," \
	"authenticate + call in one pipeline), ${duration}s each, tenant large"
printf '%-22s %11s %11s %6s %-7s %17s %17s\n' route "floor req/s" "HTTP req/s" ratio ">=0.75" \
	"floor p50/p99 ms" "HTTP p50/p99 ms"
routes | while read -r name sql lua setting kind; do
	tps=$(fs pgbench "$name" 3)
	# store_run's pgbench transaction is two posts (start and finish).
	[ "$name" = store_run ] && [ -n "$tps" ] && tps=$((2 * tps))
	floor_lat="$(fs pgbench "$name" 4)/$(fs pgbench "$name" 5)"
	[ "$name" = store_run ] && floor_lat="(per 2 posts) $floor_lat"
	printf '%-22s %11s %11s %6s %-7s %17s %17s\n' "$name" "${tps:-n/a}" "$(fs wrk "$name" 3)" \
		$(judge "$(fs wrk "$name" 3)" "$tps" 0.75 '>=') "$floor_lat" "$(fs wrk "$name" 4)/$(fs wrk "$name" 5)"
done
echo
echo "2. Scaling: mean latency (ms) of one client (pgbench -c1, ${scale_duration}s), large history against small"
printf '%-22s %12s %12s %6s %-6s\n' call "large" "small" ratio "<=2"
routes | while read -r name sql lua setting kind; do
	case $name in stats_* | pipelines* | runs | get_offsets) ;; *) continue ;; esac
	large=$(fs pgbench "scale_large_$name" 6)
	small=$(fs pgbench "scale_small_$name" 6)
	printf '%-22s %12s %12s %6s %-6s\n' "$name" "${large:-n/a}" "${small:-n/a}" $(judge "$large" "$small" 2 '<=')
done
echo "   (runs: $large_runs against $small_runs; get_offsets: $offsets_1m against $offsets_1k offset records;" \
	"runs is not a target, shown for information)"
echo
set -- $(grep '^memory ' "$results" || echo "memory 0 0 0 0 0 0 0 0")
mib=$(awk -v k="$2" 'BEGIN { printf "%.1f", k / 1024 }')
printf '3. Memory: nilus-manager VmRSS max %s MiB (%s KiB before) with %s established connections,' "$mib" "$4" "$3"
printf ' %s req/s, p99 %s ms, %s socket errors, %s non-2xx: <= 32 MiB %s\n' "$5" "$7" "$8" "$9" \
	"$(awk -v k="$2" 'BEGIN { print (k > 0 && k <= 32768) ? "met" : "MISSED" }')"
echo
after=$(fs pgbench after_writes_stats_24h 6)
before=$(fs pgbench scale_large_stats_24h 6)
printf '4. stats_24h after the write benchmarks (%s runs of the tenant in the hour of now): %s ms against %s ms before, ratio %s\n' \
	"$(awk '$1 == "hour_runs" { print $2 }' "$results")" "${after:-n/a}" "${before:-n/a}" "$(judge "$after" "$before" 2 '<=' | cut -d' ' -f1)"
[ ! -e "$work/failed" ] || { echo "run.sh: some measurements failed (see above)" >&2; exit 1; }
