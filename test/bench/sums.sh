#!/usr/bin/env bash
# Sums: instructions of a bulk UPDATE that changes the summed value of
# ROWS (default 100000) child rows over 1,000 parents, counted by valgrind
# (callgrind) in a single-user backend as instructions.sh counts, with and
# without a sum counter, and the ratio to the same UPDATE with no counter:
#
#   base      no counter, integer amounts
#   cfsum     a statement-mode sum of the integer amounts into a bigint
#   cfsumtx   the same in transaction mode
#   basenum   no counter, numeric(10,2) amounts
#   cfsumnum  a statement-mode sum of the numeric amounts into a numeric
#             column; its ratio is to basenum
#
# Each variant's parents are checked against sum() truth after the UPDATE.
# Needs postgres, initdb, pg_ctl, psql and valgrind in PATH; makes its own
# throwaway cluster.
set -euo pipefail
cd "$(dirname "$0")"
rows=${ROWS:-100000}
variants=(base cfsum cfsumtx basenum cfsumnum)

. ./callgrind.sh
for v in "${variants[@]}"; do
	case $v in *num) type="numeric(10,2)" total="numeric(16,2)" amount="(g % 10000) / 100.0" ;;
	            *) type=int total=bigint amount="g % 100" ;; esac
	flush=statement
	[ "$v" = cfsumtx ] && flush=transaction
	bench_psql <<-EOF >/dev/null 2>&1
		CREATE EXTENSION IF NOT EXISTS counterfield;
		CREATE TABLE sp_$v (id int PRIMARY KEY, total $total NOT NULL DEFAULT 0);
		CREATE TABLE sc_$v (id bigserial PRIMARY KEY, p_id int REFERENCES sp_$v, amount $type);
		CREATE INDEX ON sc_$v (p_id);
		INSERT INTO sp_$v SELECT g FROM generate_series(1, 1000) g;
		INSERT INTO sc_$v (p_id, amount) SELECT 1 + g % 1000, $amount FROM generate_series(1, $rows) g;
		SELECT counterfield.add_counter('sp_$v', 'total', 'sc_$v', sum_column => 'amount',
		                                flush => '$flush')
		 WHERE '$v' LIKE 'cf%';
		VACUUM ANALYZE;
	EOF
done
stop_cluster

empty=$(instructions "SELECT 1;")
declare -A got=()
for v in "${variants[@]}"; do
	got[$v]=$(( $(instructions "UPDATE sc_$v SET amount = amount + 1;") - empty ))
	case $v in cf*)
		if ! single_ok "SELECT count(*) = 0 AS ok FROM sp_$v p WHERE total <> (SELECT COALESCE(sum(amount), 0) FROM sc_$v c WHERE c.p_id = p.id);"; then
			echo "sums.sh: variant $v left a sum that differs from sum()" >&2
			exit 1
		fi ;;
	esac
done

printf '%-58s %-9s %14s %8s\n' scenario variant instructions ratio
for v in "${variants[@]}"; do
	b=${got[base]}
	[[ $v == *num ]] && b=${got[basenum]}
	awk -v s="S1 bulk UPDATE of the summed value of $rows rows" -v v="$v" -v n="${got[$v]}" -v b="$b" \
		'BEGIN { printf "%-58s %-9s %14.0f %7.3fx\n", s, v, n, n / b }'
done
