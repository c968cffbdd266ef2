#!/usr/bin/env bash
# Writes through a Citus coordinator to co-located distributed tables, in
# the same run: with a counter of counterfield's on the shards, with a
# hand-written PL/pgSQL row trigger that keeps the same count, and with no
# counter.  Single-row inserts from 4 clients, and bulk inserts of 10,000
# rows over every shard.  Prints transactions per second (the median of three
# rounds) and the ratios to no counter.  Run by test/citus/run.sh on its
# cluster ($1).
set -euo pipefail
sock=$1/sock
port=${CITUS_COORDINATOR_PORT:-5432}
seconds=${CITUS_BENCH_SECONDS:-4}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
psql_c() { psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -d postgres "$@"; }

psql_c >/dev/null <<'SQL'
SET client_min_messages = warning;
SET citus.shard_count = 8;
DROP TABLE IF EXISTS cf_child, cf_parent, pl_child, pl_parent, bare_child, bare_parent;
CREATE TABLE cf_parent (tenant int, id int, n int NOT NULL DEFAULT 0, PRIMARY KEY (tenant, id));
CREATE TABLE cf_child (tenant int, id bigserial, parent_id int, PRIMARY KEY (tenant, id));
CREATE TABLE pl_parent (LIKE cf_parent INCLUDING ALL);
CREATE TABLE pl_child (LIKE cf_child INCLUDING ALL);
CREATE TABLE bare_parent (LIKE cf_parent INCLUDING ALL);
CREATE TABLE bare_child (LIKE cf_child INCLUDING ALL);
SELECT create_distributed_table(t || '_parent', 'tenant', colocate_with => 'none'),
       create_distributed_table(t || '_child', 'tenant', colocate_with => t || '_parent')
  FROM (VALUES ('cf'), ('pl'), ('bare')) v(t);
INSERT INTO cf_parent (tenant, id) SELECT t, p FROM generate_series(1, 100) t, generate_series(1, 100) p;
INSERT INTO pl_parent SELECT * FROM cf_parent;
INSERT INTO bare_parent SELECT * FROM cf_parent;
SELECT counterfield.add_counter('cf_parent', 'n', 'cf_child', '{tenant, parent_id}',
                                '{tenant, id}');
CREATE OR REPLACE FUNCTION pl_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE pl_parent SET n = n + 1 WHERE tenant = NEW.tenant AND id = NEW.parent_id;
    RETURN NULL;
END $$;
SET citus.enable_unsafe_triggers = on;
CREATE TRIGGER pl_count AFTER INSERT ON pl_child FOR EACH ROW EXECUTE FUNCTION pl_count();
SQL

for table in cf pl bare; do
	printf '\\set t random(1, 100)\n\\set p random(1, 100)\nINSERT INTO %s_child (tenant, parent_id) VALUES (:t, :p);\n' \
		"$table" >"$dir/$table-row.pgbench"
	printf '\\set p random(1, 100)\nINSERT INTO %s_child (tenant, parent_id) SELECT g %% 100 + 1, (g * :p) %% 100 + 1 FROM generate_series(1, 10000) g;\n' \
		"$table" >"$dir/$table-bulk.pgbench"
done

# transactions per second of one pgbench run
tps() {
	pgbench -n -h "$sock" -p "$port" -d postgres "$@" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
# The variants take turns, three rounds of each, and the median counts:
# other load on the machine then weighs on all of them alike.
for kind in row bulk; do
	if [ $kind = row ]; then opts="-c 4 -j 2 -T $seconds"; else opts="-c 1 -t 4"; fi
	for round in 1 2 3; do
		for table in cf pl bare; do
			# shellcheck disable=SC2086
			tps $opts -f "$dir/$table-$kind.pgbench" >>"$dir/$table-$kind.tps"
		done
	done
	median() { sort -g "$1" | sed -n 2p; }
	awk -v what="$kind" -v cf="$(median "$dir/cf-$kind.tps")" -v pl="$(median "$dir/pl-$kind.tps")" \
		-v bare="$(median "$dir/bare-$kind.tps")" 'BEGIN {
		printf "%-4s inserts, tps: counterfield %8.2f (%.2fx)  PL/pgSQL trigger %8.2f (%.2fx)  no counter %8.2f\n",
			what, cf, cf / bare, pl, pl / bare, bare }'
done
wrong=$(psql_c -At -c "SELECT count(*) FROM cf_parent p LEFT JOIN
	(SELECT tenant, parent_id, count(*) AS n FROM cf_child GROUP BY 1, 2) c
	ON c.tenant = p.tenant AND c.parent_id = p.id WHERE p.n <> COALESCE(c.n, 0)")
echo "parents whose counter differs from count(*): $wrong"
[ "$wrong" = 0 ]
