#!/usr/bin/env bash
# Counters between co-located distributed tables while Citus moves their
# shards under write load, run against the cluster that test/citus/run.sh
# leaves: a coordinator and two workers with Citus and counterfield, their
# sockets in $1/sock.  Ports can be overridden (CF_COORDINATOR_PORT,
# CF_WORKER1_PORT, CF_WORKER2_PORT; defaults 5432, 5433, 5434).
#
# While test/citus/moves.pgbench inserts, deletes and moves child rows (a
# statement counter and a transaction counter on the same parent):
#  1. a shard move with block_writes, one with force_logical, and a
#     blocking split;
#  2. a fourth node (CF_NEW_PORT, default 5435: a server already running
#     there with Citus, else one initdb'ed in $1/data<port>, skipped
#     without initdb), added and given shards of the counted tables by
#     rebalance_table_shards (MOVES_REBALANCE_MODE, default auto: logical
#     replication), then drained and removed again.  The rebalancer of
#     citus_rebalance_start would move the shards of every distributed
#     table, those that run.sh leaves included, which takes half a minute.
# After each: counters against count(*), counterfield.verify() on every
# node, and each node's catalog against the placements that Citus keeps
# there, once the old shards are dropped (citus_cleanup_orphaned_resources).
# Exits non-zero on any difference.
#
# Non-blocking splits are left out: a force_logical split that keeps a child
# on the source node hangs under concurrent updates ("publisher did not
# send replica identity column expected by the logical replication target
# relation"), with or without counterfield (citus#6790), and a server that
# restricts output plugins (output_plugin_libraries) refuses Citus's.
set -euo pipefail
work=$1
sock=$work/sock
coord=${CF_COORDINATOR_PORT:-5432}
w1=${CF_WORKER1_PORT:-5433}
w2=${CF_WORKER2_PORT:-5434}
new=${CF_NEW_PORT:-5435}
seconds=${MOVES_SECONDS:-12}
rebalance_mode=${MOVES_REBALANCE_MODE:-auto}
here=$(cd "$(dirname "$0")" && pwd)
psql_at() { local port=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -d postgres "$@"; }
value() { psql_at "$1" -At -c "SET client_min_messages = warning" -c "$2"; }
began=$SECONDS
status=0
nodes=("$coord" "$w1" "$w2")

# pgbench in the background for $1 seconds, its output in $work/moves-$2.out
load() {
	pgbench -n -h "$sock" -p "$coord" -d postgres -c 4 -j 2 -T "$1" --max-tries=50 \
		-f "$here/moves.pgbench" >"$work/moves-$2.out" 2>&1 &
	loadpid=$!
	loadout=$work/moves-$2.out
	sleep 2
}
endload() {
	wait "$loadpid" || { cat "$loadout"; echo "pgbench failed" >&2; exit 1; }
	echo "   load: $(grep -E '^number of transactions actually' "$loadout" | sed 's/.*: //') transactions," \
		"$(grep -E '^number of failed' "$loadout" | sed 's/.*: //') failed"
}

# Counters against count(*) and verify() on every node.
check() {
	local wrong bad port
	wrong=$(value "$coord" "SELECT count(*) FROM mv_parent p
		LEFT JOIN (SELECT tenant, parent_id, count(*) AS c FROM mv_child GROUP BY 1, 2) x
		 ON x.tenant = p.tenant AND x.parent_id = p.id
		WHERE (p.n, p.t) IS DISTINCT FROM (coalesce(x.c, 0), coalesce(x.c, 0))")
	bad=$(value "$coord" "SELECT count(*) FROM counterfield.verify('mv_parent')")
	for port in "${nodes[@]:1}"; do
		bad=$((bad + $(value "$port" "SELECT count(*) FROM counterfield.verify()")))
	done
	echo "   $1: $(value "$coord" "SELECT count(*) FROM mv_child") children;" \
		"parents whose counter differs from count(*): $wrong; rows verify() reports: $bad"
	[ "$wrong" = 0 ] && [ "$bad" = 0 ] || status=1
}

# Each worker's catalog holds the pairs of the shards placed on it, and no
# others, once the old shards are dropped.
catalogs() {
	local port stale missing
	psql_at "$coord" -c "SET client_min_messages = warning" -c "CALL citus_cleanup_orphaned_resources()"
	for port in "${nodes[@]:1}"; do
		stale=$(value "$port" "SELECT count(*) FROM counterfield.counter k
			WHERE k.parent::text ~ 'mv_parent_[0-9]+$' AND NOT EXISTS
			 (SELECT FROM pg_dist_placement pl
			   WHERE pl.groupid = (SELECT groupid FROM pg_dist_local_group)
			   AND pl.shardid = substring(k.parent::text from '_([0-9]+)$')::bigint)")
		missing=$(value "$port" "SELECT count(*) FROM pg_dist_placement pl JOIN pg_dist_shard s USING (shardid)
			WHERE s.logicalrelid = 'mv_parent'::regclass
			AND pl.groupid = (SELECT groupid FROM pg_dist_local_group)
			AND (SELECT count(*) FROM counterfield.counter k
			      WHERE k.parent::text ~ ('mv_parent_' || pl.shardid || '$')
			      AND k.child::text ~ 'mv_child_[0-9]+$') <> 2")
		echo "   node $port: catalog rows of shards not placed there: $stale;" \
			"shards placed there without their two counters: $missing"
		[ "$stale" = 0 ] && [ "$missing" = 0 ] || status=1
	done
}

# Writes that reach every parent, hence every placement.
write_all() {
	psql_at "$coord" -c "INSERT INTO mv_child (tenant, parent_id) SELECT tenant, id FROM mv_parent" \
		-c "DELETE FROM mv_child WHERE id % 3 = 0" \
		-c "UPDATE mv_child SET parent_id = 1 + parent_id % 10 WHERE id % 5 = 0"
}

# A mv_parent shard placed on a node: its lowest or highest.
shard_on() {
	value "$coord" "SELECT $2(shardid) FROM pg_dist_shard JOIN pg_dist_placement USING (shardid)
		JOIN pg_dist_node USING (groupid) WHERE logicalrelid = 'mv_parent'::regclass AND nodeport = $1"
}
node_id() { value "$coord" "SELECT nodeid FROM pg_dist_node WHERE nodeport = $1"; }

echo "== moves: co-located distributed tables with two counters"
psql_at "$coord" >/dev/null <<-EOF
	SET client_min_messages = warning;
	DROP TABLE IF EXISTS mv_child, mv_parent;
	SET citus.shard_count = 4;
	CREATE TABLE mv_parent (tenant int, id int, n int NOT NULL DEFAULT 0, t int NOT NULL DEFAULT 0,
	                        PRIMARY KEY (tenant, id));
	CREATE TABLE mv_child (tenant int, id bigserial, parent_id int, PRIMARY KEY (tenant, id));
	CREATE INDEX ON mv_child (tenant, parent_id);
	SELECT create_distributed_table('mv_parent', 'tenant', colocate_with => 'none');
	SELECT create_distributed_table('mv_child', 'tenant', colocate_with => 'mv_parent');
	SELECT counterfield.add_counter('mv_parent', 'n', 'mv_child', '{tenant,parent_id}', '{tenant,id}');
	SELECT counterfield.add_counter('mv_parent', 't', 'mv_child', '{tenant,parent_id}', '{tenant,id}',
	                                flush => 'transaction');
	INSERT INTO mv_parent (tenant, id) SELECT t, i FROM generate_series(1, 20) t, generate_series(1, 10) i;
	INSERT INTO mv_child (tenant, parent_id) SELECT t, 1 + g % 10 FROM generate_series(1, 20) t, generate_series(1, 20) g;
EOF
check "before"

echo "== moves (block_writes, force_logical) and a blocking split under load"
s1=$(shard_on "$w1" min)
s2=$(shard_on "$w2" min)
load "$seconds" moves
psql_at "$coord" -c "SELECT citus_move_shard_placement($s1, '$sock', $w1, '$sock', $w2,
	shard_transfer_mode => 'block_writes')" >/dev/null
echo "   moved shard $s1 from $w1 to $w2 (block_writes) at $((SECONDS - began)) s"
psql_at "$coord" -c "SELECT citus_move_shard_placement($s2, '$sock', $w2, '$sock', $w1,
	shard_transfer_mode => 'force_logical')" >/dev/null
echo "   moved shard $s2 from $w2 to $w1 (force_logical) at $((SECONDS - began)) s"
s3=$(shard_on "$w1" max)
psql_at "$coord" -c "SELECT citus_split_shard_by_split_points($s3,
	ARRAY[((shardminvalue::bigint + shardmaxvalue::bigint) / 2)::text],
	ARRAY[$(node_id "$w1"), $(node_id "$w2")], shard_transfer_mode => 'block_writes')
	FROM pg_dist_shard WHERE shardid = $s3" >/dev/null
echo "   split shard $s3 between $w1 and $w2 (blocking) at $((SECONDS - began)) s"
endload
check "after the moves and the split"
write_all
check "after writes to every parent"
catalogs

echo "== a fourth node, given shards by the rebalancer under load"
started=
if psql_at "$new" -c "SELECT" >/dev/null 2>&1; then
	psql_at "$new" -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS citus"
elif command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
	initdb -N -D "$work/data$new" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
	value "$coord" "SELECT name || ' = ' || quote_literal(setting) FROM pg_settings
		WHERE name IN ('shared_preload_libraries', 'citus.local_hostname', 'wal_level',
		'max_prepared_transactions', 'max_replication_slots', 'max_wal_senders',
		'max_worker_processes', 'output_plugin_libraries')" >>"$work/data$new/postgresql.conf"
	pg_ctl -D "$work/data$new" -l "$work/postgres$new.log" -w \
		-o "-c listen_addresses='' -k '$sock' -c port=$new -c fsync=off" start >/dev/null
	started=$work/data$new
	psql_at "$new" -c "CREATE EXTENSION citus"
else
	echo "   skipped: no server on port $new, and no initdb to start one"
	new=
fi
if [ -n "$new" ]; then
	load "$seconds" rebalance
	psql_at "$coord" -c "SELECT citus_add_node('$sock', $new)" >/dev/null
	nodes+=("$new")
	psql_at "$coord" -c "SET client_min_messages = warning" \
		-c "SELECT rebalance_table_shards('mv_parent', shard_transfer_mode => '$rebalance_mode')" >/dev/null
	echo "   rebalanced onto $new ($rebalance_mode) at $((SECONDS - began)) s:" \
		"$(value "$coord" "SELECT count(*) FROM pg_dist_placement JOIN pg_dist_node USING (groupid)
			JOIN pg_dist_shard USING (shardid) WHERE nodeport = $new
			AND logicalrelid = 'mv_parent'::regclass") mv_parent shards there"
	endload
	check "after the rebalance"
	write_all
	check "after writes to every parent"
	catalogs
	psql_at "$coord" -c "SET client_min_messages = warning" \
		-c "SELECT citus_drain_node('$sock', $new, shard_transfer_mode => 'block_writes')" >/dev/null
	write_all
	check "after draining $new"
	catalogs
	psql_at "$coord" -c "SELECT citus_remove_node('$sock', $new)" >/dev/null
	[ -z "$started" ] || pg_ctl -D "$started" -m fast stop >/dev/null
fi

[ $status -ne 0 ] || psql_at "$coord" -c "DROP TABLE mv_child, mv_parent"
echo "moves: $([ $status -eq 0 ] && echo "counters exact" || echo FAILED) in $((SECONDS - began)) s"
exit $status
