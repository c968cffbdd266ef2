#!/usr/bin/env bash
# Chains: moving one intermediate row with DESCENDANTS (default 10000)
# counted rows below it to another parent (UPDATE category SET company_id
# = ...), with a counter through it and without.  The baseline is what an
# application keeping the count by hand would do at least: the bare UPDATE
# of that row plus counting its descendants once.  Instructions are counted
# by valgrind (callgrind) in a single-user backend, as instructions.sh
# counts them, for a move in a backend that has moved it once already:
#
#   base      the bare UPDATE, then SELECT count(*) of its products
#   cfstmt    the UPDATE with a statement-mode counter through category
#   cftx      the same in transaction mode (the parents are updated at commit)
#   basesum   the bare UPDATE, then SELECT sum(price) of its products
#   cfsum     a statement-mode sum of the products' prices through category;
#             its ratio is to basesum
#
# Each counting variant is checked against count(*) / sum() truth after the
# move, and the parent rows its move updated are counted (one per affected
# parent).  Needs postgres, initdb, pg_ctl, psql and valgrind in PATH; makes
# its own throwaway cluster.
set -euo pipefail
cd "$(dirname "$0")"
descendants=${DESCENDANTS:-10000}
variants=(base cfstmt cftx basesum cfsum)

. ./callgrind.sh
run() { bench_psql "$@"; }
run -c "CREATE EXTENSION counterfield"
for v in "${variants[@]}"; do
	# 100 companies, 1,000 categories, 10 products each, and category 1
	# with $descendants products of its own, in company 1.
	run <<-EOF >/dev/null 2>&1
		CREATE TABLE company_$v (id int PRIMARY KEY, n int NOT NULL DEFAULT 0,
		                         total numeric(16,2) NOT NULL DEFAULT 0);
		CREATE TABLE category_$v (id int PRIMARY KEY, company_id int REFERENCES company_$v);
		CREATE TABLE product_$v (id serial PRIMARY KEY, category_id int REFERENCES category_$v,
		                         price numeric(10,2));
		CREATE INDEX ON category_$v (company_id);
		CREATE INDEX ON product_$v (category_id);
		INSERT INTO company_$v (id) SELECT g FROM generate_series(1, 100) g;
		INSERT INTO category_$v SELECT g, 1 + g % 100 FROM generate_series(1, 1000) g;
		UPDATE category_$v SET company_id = 1 WHERE id = 1;
		INSERT INTO product_$v (category_id, price) SELECT 2 + g % 999, 1.50 FROM generate_series(1, 10000) g;
		INSERT INTO product_$v (category_id, price) SELECT 1, 2.25 FROM generate_series(1, $descendants) g;
		SELECT counterfield.add_counter('company_$v', 'n', 'product_$v', through => '{category_$v}')
		 WHERE '$v' = 'cfstmt';
		SELECT counterfield.add_counter('company_$v', 'n', 'product_$v', through => '{category_$v}',
		                                flush => 'transaction')
		 WHERE '$v' = 'cftx';
		SELECT counterfield.add_counter('company_$v', 'total', 'product_$v', through => '{category_$v}',
		                                sum_column => 'price')
		 WHERE '$v' = 'cfsum';
		VACUUM ANALYZE;
	EOF
done

# The parent rows one move updates (statement mode, read in its transaction).
updated=$(run -c "BEGIN" -c "UPDATE category_cfstmt SET company_id = 2 WHERE id = 1" \
	-c "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'company_cfstmt'" -c "ROLLBACK" |
	sed -n '1p')
stop_cluster

# A warm move: the instructions of moving the category there and back,
# less those of moving it there only (start-up, loading definitions and
# the first planning drop out).  The check below sees it back home.
declare -A got=()
for v in "${variants[@]}"; do
	there="UPDATE category_$v SET company_id = 2 WHERE id = 1;"
	back="UPDATE category_$v SET company_id = 1 WHERE id = 1;"
	if [ "$v" = base ]; then
		there="$there SELECT count(*) FROM product_$v WHERE category_id = 1;"
		back="$back SELECT count(*) FROM product_$v WHERE category_id = 1;"
	elif [ "$v" = basesum ]; then
		there="$there SELECT sum(price) FROM product_$v WHERE category_id = 1;"
		back="$back SELECT sum(price) FROM product_$v WHERE category_id = 1;"
	fi
	a=$(instructions "$there")
	echo "$back" | single >/dev/null
	b=$(instructions "$there
$back")
	got[$v]=$(( b - a ))
	[[ $v == base* ]] && continue
	if ! single_ok "SELECT count(*) = 0 AS ok FROM company_$v c WHERE (c.n, c.total) IS DISTINCT FROM ((SELECT count(*) FROM product_$v p JOIN category_$v k ON k.id = p.category_id WHERE k.company_id = c.id) * ('$v' <> 'cfsum')::int, (SELECT COALESCE(sum(price), 0) FROM product_$v p JOIN category_$v k ON k.id = p.category_id WHERE k.company_id = c.id) * ('$v' = 'cfsum')::int);"; then
		echo "chains.sh: variant $v left a value that differs from the truth" >&2
		exit 1
	fi
done

printf '%-62s %-8s %14s %8s\n' scenario variant instructions ratio
for v in "${variants[@]}"; do
	b=${got[base]}
	[[ $v == *sum ]] && b=${got[basesum]}
	awk -v s="C1 move 1 category with $descendants products to another company" -v v="$v" \
		-v n="${got[$v]}" -v b="$b" \
		'BEGIN { printf "%-62s %-8s %14.0f %7.3fx\n", s, v, n, n / b }'
done
echo "parent rows updated by one move (statement mode): $updated"
