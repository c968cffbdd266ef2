#!/usr/bin/env bash
# Instructions that the bulk scenarios (B1 to B3) execute, per variant,
# counted by valgrind (callgrind) in a single-user backend.  Unlike timings
# on a shared virtual machine, where the same statement can take from 1x to
# 1.8x as long from one run to the next, the counts repeat to within a
# fraction of a percent, so they show small differences between variants.
# They count CPU work only: the time to write WAL and data is not in them.
#
#   ROWS (default 100000)    rows per bulk statement
#   SCENARIOS ("B1a B1b B1c B2 B3")
#   VARIANTS ("base noop plstmt cfstmt cftx app"; noop and app: the floors,
#            see schema.sql)
# Needs postgres, initdb, pg_ctl, psql and valgrind in PATH; makes its own
# throwaway cluster.
set -euo pipefail
cd "$(dirname "$0")"
scenarios=${SCENARIOS:-"B1a B1b B1c B2 B3"}
read -r -a variants <<< "${VARIANTS:-base noop plstmt cfstmt cftx app}"

dir=$(mktemp -d)
trap 'pg_ctl -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
initdb -D "$dir/data" -A trust -U postgres >/dev/null
pg_ctl -D "$dir/data" -l "$dir/log" -w -o "-c listen_addresses='' -k $dir" start >/dev/null
psql -Xq -h "$dir" -U postgres -d postgres -c "CREATE DATABASE bench"
psql -Xq -h "$dir" -U postgres -d bench -v ON_ERROR_STOP=1 -f schema.sql >/dev/null 2>&1
for v in "${variants[@]}"; do
	psql -Xq -h "$dir" -U postgres -d bench -v ON_ERROR_STOP=1 -c "SELECT bench_setup('$v')" >/dev/null 2>&1
done
pg_ctl -D "$dir/data" -w stop >/dev/null

# Runs SQL, one statement per line, in a single-user backend.
single() { postgres --single -D "$dir/data" -c synchronous_commit=off bench >/dev/null 2>&1; }

# Instructions of a single-user backend that runs SQL, start to exit.
instructions() {
	rm -f "$dir"/callgrind.*
	echo "$1" | valgrind -q --tool=callgrind --callgrind-out-file="$dir/callgrind.%p" \
		postgres --single -D "$dir/data" -c synchronous_commit=off bench >/dev/null 2>&1
	sed -n 's/^summary: \([0-9]*\)/\1/p' "$dir"/callgrind.* | head -1
}

. ./bulk.sh
empty=$(instructions "SELECT 1;")

printf '%-58s %-8s %14s %8s %10s\n' scenario variant instructions ratio "vs plstmt"
for s in $scenarios; do
	case $s in
	B1a) what="B1 bulk INSERT $rows rows over 1,000 parents" sql=$insert_1000 prep=""
		app=$(app_sql "$insert_1000" +) ;;
	B1b) what="B1 bulk INSERT $rows rows into 1 parent" sql=$insert_1 prep=""
		app=$(app_sql "$insert_1" +) ;;
	B1c) what="B1 bulk INSERT $rows rows, each row its own parent" sql=$insert_all prep=""
		app=$(app_sql "$insert_all" +) ;;
	B2) what="B2 bulk UPDATE moving $rows rows to other parents" sql=$move
		prep="$insert_1000; $recount" app=$(app_sql "$move" + 1000) ;;
	B3) what="B3 bulk DELETE of $rows rows" sql=$delete prep="$insert_1000; $recount"
		app=$(app_sql "$delete" -) ;;
	*) echo "unknown scenario $s" >&2; exit 2 ;;
	esac
	declare -A got=()
	for v in "${variants[@]}"; do
		printf '%s\n' "SELECT bench_reset('$v');" "${prep//@/$v}" | single
		# The whole database: single-user mode has no autovacuum for the catalogs.
		echo "VACUUM ANALYZE;" | single
		run=${sql//@/$v}
		[ "$v" = app ] && run=${app//@/$v}
		got[$v]=$(( $(instructions "$run") - empty ))
	done
	for v in "${variants[@]}"; do
		awk -v s="$what" -v v="$v" -v n="${got[$v]}" -v b="${got[base]:-}" -v p="${got[plstmt]:-}" 'BEGIN {
			printf "%-58s %-8s %14.0f %8s %10s\n", s, v, n,
				(b > 0 ? sprintf("%.3fx", n / b) : "-"), (p > 0 ? sprintf("%.3fx", n / p) : "-") }'
	done
	unset got
done
