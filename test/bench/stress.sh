#!/usr/bin/env bash
# Stress: 8 clients, each transaction touching several random parents in
# random order across several statements (inserts, moves, deletes).  Reports
# deadlocks, serialization failures and TPS for counterfield in statement,
# transaction and deferred mode and for a hand-written PL/pgSQL row trigger,
# then checks every counter against count(*) (a deferred one after a final
# fold).
#
#   STRESS_SECONDS (30)   STRESS_CLIENTS (8)   STRESS_PARENTS (100)
set -euo pipefail
cd "$(dirname "$0")"
secs=${STRESS_SECONDS:-30}
clients=${STRESS_CLIENTS:-8}
parents=${STRESS_PARENTS:-100}
db=counterfield_stress
. ./common.sh

printf '%-8s %10s %10s %12s %12s %8s\n' variant tps deadlocks serialization other-fail drift
for v in base cfstmt cftx cfdef plrow; do
	q -c "SELECT bench_setup('$v')" >/dev/null
	q -c "INSERT INTO c_$v (p_id, payload) SELECT 1 + g % $parents, g FROM generate_series(1, 20 * $parents) g" \
	  -c "SELECT counterfield.reinit('p_$v', 'n') WHERE '$v' LIKE 'cf%'" \
	  -c "UPDATE p_$v p SET n = s.c FROM (SELECT p_id, count(*) c FROM c_$v GROUP BY 1) s WHERE p.id = s.p_id AND '$v' = 'plrow'" \
	  -c "VACUUM ANALYZE c_$v" >/dev/null
	cat > "$out/script.sql" <<SQL
\\set a random(1, $parents)
\\set b random(1, $parents)
\\set c random(1, $parents)
\\set d random(1, $parents)
\\set e random(1, $parents)
BEGIN;
INSERT INTO c_$v (p_id, payload) VALUES (:a, 1);
UPDATE c_$v SET p_id = :b WHERE id = (SELECT min(id) FROM c_$v WHERE p_id = :c);
INSERT INTO c_$v (p_id, payload) VALUES (:d, 1), (:e, 1);
DELETE FROM c_$v WHERE id = (SELECT max(id) FROM c_$v WHERE p_id = :b);
UPDATE c_$v SET p_id = :a WHERE id = (SELECT max(id) FROM c_$v WHERE p_id = :e);
COMMIT;
SQL
	dl0=$(q -c "SELECT deadlocks FROM pg_stat_database WHERE datname = '$db'")
	pgbench -n -c "$clients" -j "$clients" -T "$secs" --failures-detailed -f "$out/script.sql" \
		> "$out/pgbench.$v" 2>&1 || true
	sleep 1
	dl1=$(q -c "SELECT deadlocks FROM pg_stat_database WHERE datname = '$db'")
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out/pgbench.$v")
	ser=$(sed -n 's/.*serialization failures: \([0-9]*\).*/\1/p' "$out/pgbench.$v" | head -1)
	other=$(grep -c 'client .* aborted' "$out/pgbench.$v" || true)
	drift=$(q -c "SELECT bench_drift('$v')")
	printf '%-8s %10s %10s %12s %12s %8s\n' "$v" "${tps:-0}" "$((dl1 - dl0))" "${ser:-0}" "$other" "$drift"
done
