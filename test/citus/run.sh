#!/usr/bin/env bash
# counterfield on a Citus cluster, run by test/run citus as the clusters'
# user in the copied tree: a coordinator on port 5432 and workers on 5433 and
# 5434 are running with Citus preloaded, their sockets in $1/sock.  Sets up
# the cluster, runs the regression files of test/citus/sql against the
# coordinator, then concurrent runs checked against count(*), shard moves
# under load (moves.sh) and the benchmark (bench.sh).
set -euo pipefail
work=$1
sock=$work/sock
pg_config=$(command -v pg_config)
psql_at() { local port=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -d postgres "$@"; }

echo "== Citus: a coordinator and two workers"
for port in 5432 5433 5434; do psql_at $port -c "CREATE EXTENSION citus"; done
psql_at 5432 -c "SELECT citus_set_coordinator_host('$sock', 5432)" \
	-c "SELECT citus_add_node('$sock', 5433)" -c "SELECT citus_add_node('$sock', 5434)" >/dev/null
psql_at 5432 -c "CREATE EXTENSION counterfield"

echo "== test/citus/sql against the coordinator"
"$("$pg_config" --pkglibdir)/pgxs/src/test/regress/pg_regress" --use-existing --dbname=postgres \
	--host="$sock" --port=5432 --bindir="$("$pg_config" --bindir)" \
	--inputdir=test/citus --outputdir=test/citus \
	$(cd test/citus/sql && ls *.sql | sed 's/\.sql$//')

echo "== concurrent writes through the coordinator, checked against count(*)"
psql_at 5432 -f test/citus/concurrent.sql
pgbench -n -h "$sock" -p 5432 -d postgres -c 4 -j 2 -T "${CITUS_SECONDS:-10}" --max-tries=20 \
	-f test/citus/concurrent.pgbench >"$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out"; exit 1; }
grep -E "^number of (transactions actually processed|failed)" "$work/pgbench.out" || true
pgbench -n -h "$sock" -p 5432 -d postgres -c 4 -j 2 -T "${CITUS_SECONDS:-10}" --max-tries=20 \
	-f test/citus/baseline.pgbench >"$work/baseline.out" 2>&1 || { cat "$work/baseline.out"; exit 1; }
echo "the same transactions on a table with no counter: $(grep -E "^number of transactions actually" "$work/baseline.out")"
psql_at 5432 -At -c "SELECT count(*) FROM cc_parent p
	WHERE (p.n, p.s) <> (SELECT count(*), count(*) FROM cc_child c WHERE c.parent_id = p.id)" >"$work/wrong"
echo "parents whose counter differs from count(*): $(cat "$work/wrong")"
[ "$(cat "$work/wrong")" = 0 ]

echo "== concurrent writes of co-located distributed tables, checked against count(*)"
pgbench -n -h "$sock" -p 5432 -d postgres -c 4 -j 2 -T "${CITUS_SECONDS:-10}" --max-tries=20 \
	-f test/citus/concurrent_dist.pgbench >"$work/dist.out" 2>&1 || { cat "$work/dist.out"; exit 1; }
grep -E "^number of (transactions actually processed|failed)" "$work/dist.out" || true
# a write made on a worker, through its copy of the table
psql_at 5433 -c "INSERT INTO dd_child (tenant, parent_id) SELECT t, 1 FROM generate_series(1, 8) t"
psql_at 5432 -At -c "SELECT count(*) FROM dd_parent p LEFT JOIN
	(SELECT tenant, parent_id, count(*) AS n FROM dd_child GROUP BY 1, 2) c
	ON c.tenant = p.tenant AND c.parent_id = p.id
	WHERE (p.n, p.t) IS DISTINCT FROM (COALESCE(c.n, 0), COALESCE(c.n, 0))" >"$work/wrong"
echo "parents whose counters differ from count(*): $(cat "$work/wrong")"
[ "$(cat "$work/wrong")" = 0 ]

echo "== transaction mode, transactions prepared on both workers at once on the same parents"
# Two such transactions can wait for each other's prepared parts, which no
# deadlock detector sees: counterfield.prepare_lock_timeout ends the wait.
timeout 120 pgbench -n -h "$sock" -p 5432 -d postgres -c 4 -j 2 -T 5 --max-tries=100 \
	-f test/citus/concurrent_prepare.pgbench >"$work/prepare.out" 2>&1 || { cat "$work/prepare.out"; exit 1; }
grep -E "^number of (transactions actually processed|failed)" "$work/prepare.out"
grep -q "^number of failed transactions: 0 " "$work/prepare.out"

echo "== TRUNCATE through a worker's copy of the table"
psql_at 5433 -c "BEGIN" -c "TRUNCATE tx_child" -c "INSERT INTO tx_child (tenant, parent_id) VALUES (1, 1), (2, 1)" -c "COMMIT"
psql_at 5432 -At -c "SELECT count(*) FROM tx_parent p
	WHERE n <> (SELECT count(*) FROM tx_child c WHERE c.tenant = p.tenant AND c.parent_id = p.id)" >"$work/wrong"
echo "parents whose counter differs from count(*): $(cat "$work/wrong")"
[ "$(cat "$work/wrong")" = 0 ]

echo "== a trigger of counterfield's, forged by a role on a table named like a shard, pairs nothing"
shard=$(psql_at 5433 -At -c "SELECT shardid FROM pg_dist_shard JOIN pg_dist_placement USING (shardid)
	JOIN pg_dist_node USING (groupid) WHERE logicalrelid = 'dd_child'::regclass AND nodeport = 5433 LIMIT 1")
psql_at 5433 -v ON_ERROR_STOP=0 >"$work/forged.out" 2>&1 <<SQL
SET citus.enable_ddl_propagation = off;
CREATE ROLE forger LOGIN;
GRANT CREATE ON SCHEMA public TO forger;
SET ROLE forger;
CREATE TABLE forged_$shard (tenant int, id bigint, parent_id int);
CREATE TRIGGER counterfield_insert_$shard AFTER INSERT ON forged_$shard
	REFERENCING NEW TABLE AS counterfield_new FOR EACH STATEMENT
	EXECUTE FUNCTION counterfield.child_trigger('{"parent" : "public.dd_parent",
	"child" : "public.dd_child", "counter_column" : "n", "fk_columns" : ["tenant","parent_id"],
	"parent_columns" : ["tenant","id"], "condition_sql" : "false", "flush" : "statement",
	"sum_column" : null}');
INSERT INTO forged_$shard VALUES (1, 1, 1);
RESET ROLE;
SELECT count(*) AS forged_counters FROM counterfield.counter WHERE condition_sql = 'false';
SQL
cat "$work/forged.out"
grep -q 'cannot pair shard "forged_' "$work/forged.out"
grep -A2 forged_counters "$work/forged.out" | grep -qx ' *0'
# and on a shard of a distributed table of the role's own, co-located
psql_at 5432 -c "CREATE ROLE squatter LOGIN" -c "GRANT CREATE ON SCHEMA public TO squatter" -c "SET ROLE squatter" \
	-c "CREATE TABLE own_child (tenant int, id bigint, parent_id int, PRIMARY KEY (tenant, id))" \
	-c "SELECT create_distributed_table('own_child', 'tenant', colocate_with => 'dd_parent')" >/dev/null
own=$(psql_at 5433 -At -c "SELECT shardid FROM pg_dist_shard JOIN pg_dist_placement USING (shardid)
	JOIN pg_dist_node USING (groupid) WHERE logicalrelid = 'own_child'::regclass AND nodeport = 5433 LIMIT 1")
psql_at 5433 -c "SET ROLE squatter" -c "SET citus.enable_ddl_propagation = off" -c "SET citus.override_table_visibility = off" \
	-c "CREATE TRIGGER counterfield_insert_$own AFTER INSERT ON own_child_$own
	REFERENCING NEW TABLE AS counterfield_new FOR EACH STATEMENT
	EXECUTE FUNCTION counterfield.child_trigger('{\"parent\" : \"public.dd_parent\",
	\"child\" : \"public.own_child\", \"counter_column\" : \"n\", \"fk_columns\" : [\"tenant\",\"parent_id\"],
	\"parent_columns\" : [\"tenant\",\"id\"], \"condition_sql\" : null, \"flush\" : \"statement\",
	\"sum_column\" : null}')"
psql_at 5432 -v ON_ERROR_STOP=0 -c "SET ROLE squatter" \
	-c "INSERT INTO own_child SELECT t, g, 1 FROM generate_series(1, 8) t, generate_series(1, 100) g" \
	>"$work/forged.out" 2>&1 || true
cat "$work/forged.out"
grep -q 'cannot pair shard "own_child_' "$work/forged.out"
psql_at 5432 -At -c "SELECT count(*) FROM counterfield.verify()" >"$work/wrong"
[ "$(cat "$work/wrong")" = 0 ]

echo "== two first writes to a moved shard at once: both counted"
# The first adopts the shard pair and holds its catalog rows uncommitted;
# the second waits for them, and must count once they are committed.
psql_at 5432 >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE ad_parent (tenant int, id int, n int NOT NULL DEFAULT 0, PRIMARY KEY (tenant, id));
CREATE TABLE ad_child (tenant int, id bigserial, parent_id int, PRIMARY KEY (tenant, id));
SELECT create_distributed_table('ad_parent', 'tenant', shard_count => 1, colocate_with => 'none');
SELECT create_distributed_table('ad_child', 'tenant', colocate_with => 'ad_parent');
INSERT INTO ad_parent VALUES (1, 1);
SELECT counterfield.add_counter('ad_parent', 'n', 'ad_child', '{tenant, parent_id}', '{tenant, id}');
SELECT citus_move_shard_placement(s.shardid, n.nodename, n.nodeport, n.nodename,
         CASE n.nodeport WHEN 5433 THEN 5434 ELSE 5433 END, shard_transfer_mode => 'block_writes')
  FROM pg_dist_shard s JOIN pg_dist_placement USING (shardid) JOIN pg_dist_node n USING (groupid)
 WHERE s.logicalrelid = 'ad_parent'::regclass;
SQL
psql_at 5432 -c "BEGIN" -c "INSERT INTO ad_child (tenant, parent_id) VALUES (1, 1)" \
	-c "SELECT pg_sleep(2)" -c "COMMIT" >/dev/null &
first=$!
sleep 1
psql_at 5432 -c "INSERT INTO ad_child (tenant, parent_id) VALUES (1, 1)" >/dev/null
wait $first
psql_at 5432 -At -c "SELECT n, (SELECT count(*) FROM ad_child) FROM ad_parent" >"$work/wrong"
echo "counter and count(*): $(cat "$work/wrong")"
[ "$(cat "$work/wrong")" = "2|2" ]

if [ -x test/citus/moves.sh ]; then
	echo "== shard moves under load"
	test/citus/moves.sh "$work"
fi

echo "== benchmark: writes through the coordinator, with and without a counter"
test/citus/bench.sh "$work"
