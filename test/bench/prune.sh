#!/usr/bin/env bash
# Pruning cost: failed exception blocks in a transaction that has many
# pending transaction-mode deltas.  Each block counts a row, then fails, so
# the next write prunes what it left.  Reports the time of the blocks with
# PENDING keys pending before them (written at the top level, and written
# inside a savepoint that stays open), against the same blocks with none,
# and the ratios: pruning should cost what became stale, not what is
# pending.
#
#   PENDING (200000)   BLOCKS (300)   ROUNDS (3)
set -euo pipefail
cd "$(dirname "$0")"
pending=${PENDING:-200000}
blocks=${BLOCKS:-300}
rounds=${ROUNDS:-3}
db=counterfield_prune
. ./common.sh

q <<SQL >/dev/null
CREATE TABLE prune_parent (id int PRIMARY KEY, tn int);
CREATE TABLE prune_child (id bigserial PRIMARY KEY, prune_parent_id int, ok boolean CHECK (ok));
CREATE INDEX ON prune_child (prune_parent_id);
INSERT INTO prune_parent SELECT g, 0 FROM generate_series(1, $pending) g;
SELECT counterfield.add_counter('prune_parent', 'tn', 'prune_child',
                                fk_columns => '{prune_parent_id}', flush => 'transaction');
CREATE FUNCTION failing_blocks(n int) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    FOR i IN 1 .. n LOOP
        BEGIN
            INSERT INTO prune_child (prune_parent_id, ok) VALUES (1 + i % 100, true), (2, false);
        EXCEPTION WHEN check_violation THEN
            NULL;
        END;
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END
\$\$;
SQL

# Runs the blocks in a transaction, after the given number of pending keys,
# written after the given statement (a SAVEPOINT, or nothing).
run() {
	q -c "BEGIN" -c "$2" \
	  -c "INSERT INTO prune_child (prune_parent_id, ok) SELECT g, true FROM generate_series(1, $1) g" \
	  -c "SELECT failing_blocks($blocks)" -c "ROLLBACK" | tail -n 1
}

# The smaller of two numbers.
least() { echo "$1 ${2:-$1}" | awk '{print ($1 < $2) ? $1 : $2}'; }

printf '%-10s %12s %14s %16s\n' run "none (ms)" "pending (ms)" "in savepoint (ms)"
best_none=; best_top=; best_sp=
for r in $(seq 1 "$rounds"); do
	none=$(run 0 "SELECT 1")
	top=$(run "$pending" "SELECT 1")
	sp=$(run "$pending" "SAVEPOINT s")
	printf '%-10s %12.1f %14.1f %16.1f\n' "round $r" "$none" "$top" "$sp"
	best_none=$(least "$none" "$best_none")
	best_top=$(least "$top" "$best_top")
	best_sp=$(least "$sp" "$best_sp")
done
printf '%-10s %12.1f %14.1f %16.1f\n' "best" "$best_none" "$best_top" "$best_sp"
printf '%-10s %12s %13.2fx %15.2fx\n' "ratio" "" \
	"$(echo "$best_top $best_none" | awk '{print $1 / $2}')" \
	"$(echo "$best_sp $best_none" | awk '{print $1 / $2}')"
