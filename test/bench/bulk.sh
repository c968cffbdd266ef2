# The bulk statements of B1 to B3 (@ is the variant), shared by run.sh and
# instructions.sh.  ROWS (default 100000) is the number of child rows.
rows=${ROWS:-100000}
insert_1000="INSERT INTO c_@ (p_id, payload) SELECT 1 + g % 1000, g FROM generate_series(1, $rows) g"
insert_1="INSERT INTO c_@ (p_id, payload) SELECT 1, g FROM generate_series(1, $rows) g"
insert_all="INSERT INTO c_@ (p_id, payload) SELECT g, g FROM generate_series(1, $rows) g"
move="UPDATE c_@ SET p_id = p_id + 1000"
delete="DELETE FROM c_@"
# Sets the counters of the variants that were not counting while the rows
# were loaded: reinit for counterfield, by hand for the others.
recount="SELECT counterfield.reinit('p_@', 'n') WHERE '@' LIKE 'cf%'; UPDATE p_@ p SET n = s.c FROM (SELECT p_id, count(*) c FROM c_@ GROUP BY 1) s WHERE p.id = s.p_id AND ('@' LIKE 'pl%' OR '@' = 'app')"

# The app floor's form of a bulk statement: it returns the keys of the rows
# it wrote, and the same statement adds (sign + or -) their number to each
# parent; with a third argument, the rows moved by that much, and each
# parent they left loses them.
app_sql() {
	local sql=$1 sign=$2 moved=${3:-}
	local keys="SELECT p_id, 1 AS c FROM w"
	[ -n "$moved" ] && keys="$keys UNION ALL SELECT p_id - ($moved), -1 FROM w"
	echo "WITH w AS ($sql RETURNING p_id) UPDATE p_@ p SET n = p.n $sign d.c FROM (SELECT p_id, sum(c) AS c FROM ($keys) k GROUP BY p_id) d WHERE p.id = d.p_id"
}
