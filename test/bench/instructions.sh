#!/usr/bin/env bash
# Instructions that the scenarios execute, per variant, counted by valgrind
# (callgrind) in a single-user backend: the bulk scenarios (B1 to B3) per
# statement, the single-row ones (B4, B5) per transaction.  Unlike timings
# on a shared virtual machine, where the same statement can take from 1x to
# 1.8x as long from one run to the next, the counts repeat to within a
# fraction of a percent, so they show small differences between variants.
# They count CPU work only: the time to write WAL and data is not in them,
# nor, for B4 and B5, the client and its round trips.
#
#   ROWS (default 100000)    rows per bulk statement
#   SCENARIOS ("B1a B1b B1c B2 B3 B4 B5")
#   VARIANTS ("base noop plrow plstmt cfstmt cftx app"; noop and app: the
#            floors, see schema.sql; plrow runs in B4 and B5 only, a row
#            trigger over 100k rows takes too long under valgrind)
# Needs postgres, initdb, pg_ctl, psql and valgrind in PATH; makes its own
# throwaway cluster.
set -euo pipefail
cd "$(dirname "$0")"
scenarios=${SCENARIOS:-"B1a B1b B1c B2 B3 B4 B5"}
read -r -a variants <<< "${VARIANTS:-base noop plrow plstmt cfstmt cftx app}"

. ./callgrind.sh
bench_psql -f schema.sql >/dev/null 2>&1
for v in "${variants[@]}"; do
	bench_psql -c "SELECT bench_setup('$v')" >/dev/null 2>&1
done
stop_cluster

# Resets a variant, runs the set-up SQL given and vacuums the whole
# database: single-user mode has no autovacuum for the catalogs.
reset_variant() {
	printf '%s\n' "SELECT bench_reset('$1');" "${2:-}" "VACUUM ANALYZE;" | single >/dev/null
}

. ./bulk.sh
empty=$(instructions "SELECT 1;")

# The single-row scenarios run prepared statements, one transaction per
# line, over the same pseudo-random parents for every variant.  A run of
# $warm transactions and one of $warm + $more, each from the same reset
# state, differ by $more transactions in steady state: start-up, planning
# and the first loads of caches drop out.
warm=50
more=500
mapfile -t parents < <(awk -v n=$((warm + more)) 'BEGIN { srand(4); for (i = 0; i < n; i++) print 1 + int(rand() * 10000) }')

# The script of n transactions: the PREPARE line, then the transaction
# with : replaced by each parent in turn.
txn_script() {
	local prep=$1 txn=$2 n=$3
	echo "$prep"
	for p in "${parents[@]:0:n}"; do echo "${txn//:/$p}"; done
}

# Instructions per transaction of one variant in steady state; stops unless
# the longer run inserted rows_per_txn rows per transaction and left every
# counter equal to count(*) (single-user mode reports errors only in output
# that is thrown away).
per_txn() {
	local v=$1 prep=$2 txn=$3 rows_per_txn=$4 a b
	reset_variant "$v"
	a=$(instructions "$(txn_script "$prep" "$txn" $warm)")
	reset_variant "$v"
	b=$(instructions "$(txn_script "$prep" "$txn" $((warm + more)))")
	if ! single_ok "SELECT count(*) = $(( (warm + more) * rows_per_txn )) AND bench_drift('$v') = 0 AS ok FROM c_$v;"; then
		echo "instructions.sh: variant $v did not run as intended" >&2
		return 1
	fi
	echo $(( (b - a) / more ))
}

printf '%-66s %-8s %14s %8s %8s\n' scenario variant instructions ratio "vs app"
for s in $scenarios; do
	declare -A got=()
	case $s in
	B4|B5)
		ins="PREPARE s(int) AS ${single_insert//:p/\$1};"
		what="$(scenario_title "$s") (per txn)"
		if [ "$s" = B4 ]; then
			rows_per_txn=1
			txn='EXECUTE s(:);'
			app_prep="PREPARE s(int) AS ${app_single//:p/\$1};"
			app_txn=$txn
		else
			rows_per_txn=10
			txn="BEGIN; $(for i in $(seq 10); do printf 'EXECUTE s(:); '; done)COMMIT;"
			app_prep="$ins PREPARE u(int) AS ${app_ten//:p/\$1};"
			app_txn=${txn/COMMIT;/EXECUTE u(:); COMMIT;}
		fi
		for v in "${variants[@]}"; do
			if [ "$v" = app ]; then
				got[$v]=$(per_txn "$v" "${app_prep//@/$v}" "$app_txn" $rows_per_txn)
			else
				got[$v]=$(per_txn "$v" "${ins//@/$v}" "$txn" $rows_per_txn)
			fi
		done ;;
	*)
		case $s in
		B1a) sql=$insert_1000 prep=""
			app=$(app_sql "$insert_1000" +) ;;
		B1b) sql=$insert_1 prep=""
			app=$(app_sql "$insert_1" +) ;;
		B1c) sql=$insert_all prep=""
			app=$(app_sql "$insert_all" +) ;;
		B2) sql=$move
			prep="$insert_1000; $recount" app=$(app_sql "$move" + 1000) ;;
		B3) sql=$delete prep="$insert_1000; $recount"
			app=$(app_sql "$delete" -) ;;
		*) echo "unknown scenario $s" >&2; exit 2 ;;
		esac
		what=$(scenario_title "$s")
		for v in "${variants[@]}"; do
			[ "$v" = plrow ] && continue
			reset_variant "$v" "${prep//@/$v}"
			run=${sql//@/$v}
			[ "$v" = app ] && run=${app//@/$v}
			got[$v]=$(( $(instructions "$run") - empty ))
		done ;;
	esac
	for v in "${variants[@]}"; do
		[ -n "${got[$v]:-}" ] || continue
		awk -v s="$what" -v v="$v" -v n="${got[$v]}" -v b="${got[base]:-}" -v a="${got[app]:-}" 'BEGIN {
			printf "%-66s %-8s %14.0f %8s %8s\n", s, v, n,
				(b > 0 ? sprintf("%.3fx", n / b) : "-"), (a > 0 ? sprintf("%.3fx", n / a) : "-") }'
	done
	unset got
done
