#!/usr/bin/env bash
# counterfield benchmarks: the same schema six ways and two floors (see
# schema.sql), measured in one cluster, variants alternating within each
# round; medians, best runs and their ratios to the baseline's.
#
#   ROUNDS (default 5)      rounds of every timed scenario
#   SECONDS_PER_RUN (10)    length of each pgbench run
#   PROTOCOL (simple)       pgbench's query mode: simple, extended or prepared
#   ROWS (100000)           rows per bulk statement (B1 to B3)
#   SCENARIOS ("B1 B2 B3 B4 B5 B6 B7 B8 B9")
#   TIMEOUT_MS (60000)      a bulk statement running longer is cut off and reported as such
#   VARIANTS ("base plrow plstmt cfstmt cftx cfdef noop app")
#   BURST_SECONDS (60)      length of the write burst of B9
# Needs PGHOST/PGPORT/PGUSER of a running server, as a superuser; test/run
# bench sets them, and preloads counterfield, so that deferred counters
# (cfdef) are folded in the background as they would be in production.
set -euo pipefail
cd "$(dirname "$0")"
rounds=${ROUNDS:-5}
secs=${SECONDS_PER_RUN:-10}
protocol=${PROTOCOL:-simple}
scenarios=${SCENARIOS:-"B1 B2 B3 B4 B5 B6 B7 B8 B9"}
timeout_ms=${TIMEOUT_MS:-60000}
read -r -a variants <<< "${VARIANTS:-base plrow plstmt cfstmt cftx cfdef noop app}"
burst=${BURST_SECONDS:-60}
db=counterfield_bench
. ./common.sh
# Every run vacuums its variant's tables first; autovacuum would otherwise
# start on the tables of one variant while the next one is being timed.
for v in "${variants[@]}"; do
	psql -Xq -c "SELECT bench_setup('$v')" -c "VACUUM ANALYZE p_$v" \
		-c "ALTER TABLE p_$v SET (autovacuum_enabled = off)" \
		-c "ALTER TABLE c_$v SET (autovacuum_enabled = off)" >/dev/null
done

# Brings a variant to the same state before every timed run: bench_reset
# and the set-up SQL given, then VACUUM and CHECKPOINT.  The parent too: the
# reset leaves a dead version of every parent row that the last run
# counted, in the counting variants only.
reset_run() {
	local v=$1 setup=${2:-}
	local ledger=""
	[ "$v" = cfdef ] && ledger=", counterfield.ledger"
	q -c "SELECT bench_reset('$v'); $setup" >/dev/null
	q -c "VACUUM ANALYZE p_$v, c_$v$ledger" -c "CHECKPOINT" >/dev/null
}

# Milliseconds that one SQL statement takes, after an untimed reset_run
# (with a fourth argument, only after the ledger is vacuumed).
time_sql() {
	local v=$1 sql=$2 setup=${3:-}
	if [ -n "${4:-}" ]; then q -c "VACUUM ANALYZE counterfield.ledger" -c "CHECKPOINT" >/dev/null
	else reset_run "$v" "$setup"; fi
	local ms
	ms=$(q -c "SET statement_timeout = $timeout_ms" -c '\timing on' -c "$sql" 2>/dev/null |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1) || true
	awk -v ms="${ms:-}" -v limit="$timeout_ms" 'BEGIN { if (ms == "" || ms + 0 >= limit) print "timeout"; else print ms }'
}

# Median of the numbers read; ">limit" when any run timed out.
median() {
	awk -v limit="$timeout_ms" '$1 == "timeout" { t = 1; next } { print }
		END { if (t) print "T" }' | sort -g | awk -v limit="$timeout_ms" '
		$1 == "T" { t = 1; next } { a[++n] = $1 }
		END { if (t) { print ">" limit; exit }
		      if (n % 2) print a[(n + 1) / 2]; else printf "%.3f\n", (a[n / 2] + a[n / 2 + 1]) / 2 }'
}

# Best of the numbers read (the smallest; the largest with "max"),
# ">limit" when every run timed out.  On a machine whose speed drifts from
# run to run, the best of several runs is nearer to what a statement costs
# than the median.
best() {
	awk -v limit="$timeout_ms" -v most="${1:-}" '$1 == "timeout" { next }
		n++ == 0 || (most == "max" ? $1 > b : $1 < b) { b = $1 }
		END { if (n) print b; else print ">" limit }'
}

# Records one measurement: scenario variant value.
record() { echo "$3" >> "$out/$1.$2"; }

# Parent updates, WAL bytes: counted around one extra, untimed run.
extra() {
	local s=$1 v=$2 sql=$3 reset=$4
	q -c "$reset" >/dev/null
	local lsn0 upd0 lsn1 upd1
	lsn0=$(q -c "SELECT pg_current_wal_insert_lsn()")
	q -c "SELECT pg_stat_force_next_flush()" >/dev/null 2>&1 || true
	upd0=$(q -c "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'p_$v'")
	q -c "SET statement_timeout = $timeout_ms" -c "$sql" >/dev/null 2>&1 || { echo "- -" > "$out/$s.$v.extra"; return; }
	sleep 1
	q -c "SELECT pg_stat_clear_snapshot()" >/dev/null
	upd1=$(q -c "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'p_$v'")
	lsn1=$(q -c "SELECT pg_current_wal_insert_lsn()")
	echo "$((upd1 - upd0)) $(q -c "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')::bigint")" > "$out/$s.$v.extra"
}

# A bulk scenario: the statement of the variants with a trigger or none,
# the set-up before each run, and the statement of app, which keeps the
# counters itself in the same statement.
bulk() {
	local s=$1 sql_tmpl=$2 prep_tmpl=$3 app_tmpl=$4
	for r in $(seq "$rounds"); do
		for v in "${variants[@]}"; do
			local sql=${sql_tmpl//@/$v}
			[ "$v" = app ] && sql=${app_tmpl//@/$v}
			record "$s" "$v" "$(time_sql "$v" "$sql" "${prep_tmpl//@/$v}")"
		done
	done
	for v in "${variants[@]}"; do
		local sql=${sql_tmpl//@/$v}
		[ "$v" = app ] && sql=${app_tmpl//@/$v}
		extra "$s" "$v" "$sql" "SELECT bench_reset('$v'); ${prep_tmpl//@/$v}"
		echo "$(q -c "SELECT bench_drift('$v')")" > "$out/$s.$v.drift"
	done
}

# Transactions per second of a pgbench script; the serialization failures
# of the run are added to $out/failures.
tps() {
	local clients=$1 script=$2
	pgbench -n -M "$protocol" -c "$clients" -j "$clients" -T "$secs" --failures-detailed \
		-f "$script" > "$out/pgbench.log" 2>/dev/null || true
	sed -n 's/.*serialization failures: \([0-9]*\).*/\1/p' "$out/pgbench.log" | head -1 >> "$out/failures"
	sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out/pgbench.log"
}

# A pgbench scenario: the script of the variants with a trigger or none,
# and the script of app, which updates the counter itself.
pgb() {
	local s=$1 clients=$2 body=$3 app_body=$4
	for r in $(seq "$rounds"); do
		for v in "${variants[@]}"; do
			local b=$body
			[ "$v" = app ] && b=$app_body
			reset_run "$v"
			printf '%s\n' "${b//@/$v}" > "$out/script.sql"
			: > "$out/failures"
			record "$s" "$v" "$(tps "$clients" "$out/script.sql")"
			awk '{ n += $1 } END { print n + 0 }' "$out/failures" >> "$out/$s.$v.failures"
		done
	done
	for v in "${variants[@]}"; do echo "$(q -c "SELECT bench_drift('$v')")" > "$out/$s.$v.drift"; done
}

# B8: a fold of 1M unfolded deltas over 1,000 parents (1,000 statements of
# 1,000 rows each, one row per parent, recorded while the background fold
# is off), against statement mode applying as many deltas: (a) the same
# 1,000 statements, each in its transaction, cfstmt less base; (b) the
# flush of one INSERT of 1M rows over 1,000 parents, which sums them in
# memory, as EXPLAIN ANALYZE times counterfield's trigger.
fold_scenario() {
	local row="INSERT INTO c_@ (p_id, payload) SELECT g, 1 FROM generate_series(1, 1000) g;"
	local big="INSERT INTO c_cfstmt (p_id, payload) SELECT 1 + g % 1000, g FROM generate_series(1, 1000000) g"
	q -c "ALTER SYSTEM SET counterfield.fold_interval = 0" -c "SELECT pg_reload_conf()" >/dev/null
	for v in cfdef base cfstmt; do
		for i in $(seq 1000); do echo "${row//@/$v}"; done > "$out/B8.$v.sql"
	done
	for r in $(seq "$rounds"); do
		reset_run cfdef
		q -f "$out/B8.cfdef.sql" >/dev/null
		record B8 fold "$(time_sql cfdef "SELECT counterfield.fold('p_cfdef')" "" keep)"
		for v in base cfstmt; do
			reset_run "$v"
			local t0 t1
			t0=$(date +%s%N)
			q -f "$out/B8.$v.sql" >/dev/null
			t1=$(date +%s%N)
			record B8 "$v" "$(( (t1 - t0) / 1000000 ))"
		done
		reset_run cfstmt
		record B8 bulk "$(q -c "EXPLAIN (ANALYZE, COSTS OFF) $big" |
			sed -n 's/^ *Trigger counterfield_insert: time=\([0-9.]*\).*/\1/p')"
	done
	q -c "ALTER SYSTEM RESET counterfield.fold_interval" -c "SELECT pg_reload_conf()" >/dev/null
	echo "$(q -c "SELECT bench_drift('cfdef')")" > "$out/B8.drift"
}

# B9: the ledger through a write burst of B6's transactions on cfdef, with
# the background fold at its default interval: its size and rows, sampled
# every second, at most and at the end, and after a final fold and VACUUM.
burst_scenario() {
	q -c "SELECT bench_reset('cfdef')" -c "VACUUM counterfield.ledger" >/dev/null
	printf '%s\n' 'BEGIN;' 'INSERT INTO c_cfdef (p_id, payload) VALUES (1, 1);' \
		'INSERT INTO c_cfdef (p_id, payload) VALUES (1, 2);' \
		'INSERT INTO c_cfdef (p_id, payload) VALUES (1, 3);' 'COMMIT;' > "$out/script.sql"
	pgbench -n -M "$protocol" -c 8 -j 8 -T "$burst" -f "$out/script.sql" > "$out/burst.log" 2>&1 &
	local bench=$!
	while kill -0 "$bench" 2>/dev/null; do
		q -c "SELECT pg_total_relation_size('counterfield.ledger'), (SELECT count(*) FROM counterfield.ledger)" >> "$out/B9.samples"
		sleep 1
	done
	wait "$bench" || true
	q -c "SELECT pg_total_relation_size('counterfield.ledger'), (SELECT count(*) FROM counterfield.ledger)" > "$out/B9.end"
	q -c "SELECT counterfield.fold('p_cfdef')" >/dev/null
	q -c "VACUUM counterfield.ledger" >/dev/null
	q -c "SELECT pg_total_relation_size('counterfield.ledger'), (SELECT count(*) FROM counterfield.ledger)" > "$out/B9.vacuumed"
	sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out/burst.log" > "$out/B9.tps"
	echo "$(q -c "SELECT bench_drift('cfdef')")" > "$out/B9.drift"
}

# Peak private memory (RssAnon, kB) of a backend running one transaction
# that inserts 1M rows over 1k parents, sampled from /proc every 10 ms.  Not
# VmHWM: that also counts the shared buffers the backend happened to touch,
# which depends more on the state of the buffer pool than on the variant.
memory() {
	local s=B7
	for v in "${variants[@]}"; do
		[ "$v" = app ] && continue
		q -c "SELECT bench_reset('$v')" >/dev/null
		PGAPPNAME="bench_b7_$v" psql -XAtq -c "SET statement_timeout = $timeout_ms" \
			-c "SELECT pg_sleep(1)" -c "BEGIN" \
			-c "INSERT INTO c_$v (p_id, payload) SELECT 1 + g % 1000, g FROM generate_series(1, 1000000) g" \
			-c "COMMIT" -c "SELECT pg_sleep(0.5)" >/dev/null 2>&1 &
		local client=$! pid="" peak=0 key kb rest
		for _ in $(seq 100); do
			pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench_b7_$v'")
			[ -n "$pid" ] && break
			sleep 0.05
		done
		while [ -n "$pid" ] && kill -0 "$client" 2>/dev/null; do
			while read -r key kb rest; do
				[ "$key" = RssAnon: ] && [ "$kb" -gt "$peak" ] && peak=$kb
			done < "/proc/$pid/status" 2>/dev/null || true
			sleep 0.01
		done
		wait "$client" || true
		[ "$peak" -gt 0 ] || peak=timeout
		record "$s" "$v" "$peak"
		echo "$(q -c "SELECT bench_drift('$v')")" > "$out/$s.$v.drift"
	done
}

# The bulk statements, and how the app floor writes each: the statement
# returns the keys of the rows it wrote, and the same statement updates
# their parents (for a move, also the parents the rows left).
. ./bulk.sh

for s in $scenarios; do
	case $s in
	B1)
		bulk B1a "$insert_1000" "" "$(app_sql "$insert_1000" +)"
		bulk B1b "$insert_1" "" "$(app_sql "$insert_1" +)"
		bulk B1c "$insert_all" "" "$(app_sql "$insert_all" +)" ;;
	B2)
		bulk B2 "$move" "$insert_1000; $recount" "$(app_sql "$move" + 1000)" ;;
	B3)
		bulk B3 "$delete" "$insert_1000; $recount" "$(app_sql "$delete" -)" ;;
	B4)
		pgb B4 2 "\\set p random(1, 10000)
$single_insert;" "\\set p random(1, 10000)
$app_single;" ;;
	B5)
		inserts=$(for i in $(seq 10); do echo "$single_insert;"; done)
		pgb B5 2 "\\set p random(1, 10000)
BEGIN;
$inserts
COMMIT;" "\\set p random(1, 10000)
BEGIN;
$inserts
$app_ten;
COMMIT;" ;;
	B6)
		inserts='INSERT INTO c_@ (p_id, payload) VALUES (1, 1);
INSERT INTO c_@ (p_id, payload) VALUES (1, 2);
INSERT INTO c_@ (p_id, payload) VALUES (1, 3);'
		pgb B6 8 "BEGIN;
$inserts
COMMIT;" "BEGIN;
$inserts
UPDATE p_@ SET n = n + 3 WHERE id = 1;
COMMIT;"
		PGOPTIONS="-c default_transaction_isolation=repeatable\\ read" pgb B6r 8 "BEGIN;
$inserts
COMMIT;" "BEGIN;
$inserts
UPDATE p_@ SET n = n + 3 WHERE id = 1;
COMMIT;" ;;
	B7) memory ;;
	B8) fold_scenario ;;
	B9) burst_scenario ;;
	esac
done

# The report.
describe() {
	case $1 in
	B1a|B1b|B1c|B2|B3) echo "$(scenario_title "$1") (ms)";;
	B4|B5) echo "$(scenario_title "$1"), 2 clients (TPS)";;
	B6) echo "B6 hot parent: 3 INSERTs per transaction, 8 clients (TPS)";;
	B6r) echo "B6 at REPEATABLE READ (TPS)";;
	B7) echo "B7 peak private backend memory, 1M-row transaction (kB)";;
	esac
}
# Ratio of a value to the baseline's, "-" if either timed out.
ratio() {
	awk -v m="$1" -v b="$2" 'BEGIN { if (m ~ /^>/ || b ~ /^>/) print "-"; else if (b > 0) printf "%.2fx", m / b; else print "-" }'
}

echo
echo "counterfield benchmarks: $(psql -XAtq -c 'SHOW server_version') on $(nproc) cores, $rounds rounds, medians and best runs, pgbench $protocol protocol"
printf '%-70s %-8s %12s %8s %12s %8s %10s %12s %6s\n' scenario variant median ratio best ratio \
	"parent-upd" "WAL bytes" drift
for f in "$out"/*.base; do
	[ -f "$f" ] || continue
	s=$(basename "$f" .base)
	[ "$s" = B8 ] && continue
	most=""
	case $s in B4|B5|B6|B6r) most=max ;; esac
	b=$(median < "$f")
	bb=$(best "$most" < "$f")
	for v in "${variants[@]}"; do
		[ -f "$out/$s.$v" ] || continue
		m=$(median < "$out/$s.$v")
		mb=$(best "$most" < "$out/$s.$v")
		upd=- wal=-
		[ -f "$out/$s.$v.extra" ] && read -r upd wal < "$out/$s.$v.extra"
		drift=$(cat "$out/$s.$v.drift" 2>/dev/null || echo -)
		printf '%-70s %-8s %12s %8s %12s %8s %10s %12s %6s\n' "$(describe "$s")" "$v" \
			"$m" "$(ratio "$m" "$b")" "$mb" "$(ratio "$mb" "$bb")" "$upd" "$wal" "$drift"
	done
done

# Serialization failures of the pgbench scenarios, over all rounds.
for f in "$out"/*.base.failures; do
	[ -f "$f" ] || continue
	s=$(basename "$f" .base.failures)
	line=""
	for v in "${variants[@]}"; do
		[ -f "$out/$s.$v.failures" ] && line="$line $v $(awk '{ n += $1 } END { print n + 0 }' "$out/$s.$v.failures"),"
	done
	echo "$(describe "$s"): serialization failures in all rounds:${line%,}"
done

if [ -f "$out/B8.fold" ]; then
	fold=$(median < "$out/B8.fold") base=$(median < "$out/B8.base") stmt=$(median < "$out/B8.cfstmt")
	bulk=$(median < "$out/B8.bulk")
	flushes=$(awk -v a="$stmt" -v b="$base" 'BEGIN { printf "%.1f", a - b }')
	echo
	echo "B8 fold of 1M unfolded deltas over 1,000 parents: $fold ms (median), drift $(cat "$out/B8.drift"); statement mode:"
	echo "   (a) the same 1,000 statements: $stmt ms, $base ms without counter, flushes $flushes ms; fold / flushes $(ratio "$fold" "$flushes")"
	echo "   (b) one 1M-row INSERT over 1,000 parents: its flush $bulk ms; fold / flush $(ratio "$fold" "$bulk")"
fi

if [ -f "$out/B9.samples" ]; then
	read -r endsize endrows < <(tr '|' ' ' < "$out/B9.end")
	read -r vsize vrows < <(tr '|' ' ' < "$out/B9.vacuumed")
	tr '|' ' ' < "$out/B9.samples" | awk -v secs="$burst" -v tps="$(cat "$out/B9.tps")" \
		-v endsize="$endsize" -v endrows="$endrows" -v vsize="$vsize" -v drift="$(cat "$out/B9.drift")" '
		$1 > size { size = $1 } $2 > rows { rows = $2 }
		END {
			printf "\nB9 ledger through a %d s burst of B6 on cfdef (%s TPS), background fold every second:\n", secs, tps
			printf "   at most %.1f MB and %d rows; at the end %.1f MB, %d rows; after a fold and VACUUM %.1f MB; drift %s\n",
				size / 1048576, rows, endsize / 1048576, endrows, vsize / 1048576, drift
		}'
fi
