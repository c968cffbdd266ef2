# The scenarios that run.sh and instructions.sh share: their titles, the
# bulk statements of B1 to B3 and the single-row statements of B4 and B5
# (@ is the variant, :p a parent key).  ROWS (default 100000) is the number
# of child rows of a bulk statement.
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

# The single-row INSERT of B4 and B5, and the application's own update of
# its parent for one row (B4, in the same statement) or for ten (B5).
single_insert="INSERT INTO c_@ (p_id, payload) VALUES (:p, 1)"
app_single="WITH i AS ($single_insert) UPDATE p_@ SET n = n + 1 WHERE id = :p"
app_ten="UPDATE p_@ SET n = n + 10 WHERE id = :p"

# The title of a scenario; each script adds what it measures.
scenario_title() {
	case $1 in
	B1a) echo "B1 bulk INSERT $rows rows over 1,000 parents";;
	B1b) echo "B1 bulk INSERT $rows rows into 1 parent";;
	B1c) echo "B1 bulk INSERT $rows rows, each row its own parent";;
	B2) echo "B2 bulk UPDATE moving $rows rows to other parents";;
	B3) echo "B3 bulk DELETE of $rows rows";;
	B4) echo "B4 1 single-row INSERT per transaction, 10k parents";;
	B5) echo "B5 10 single-row INSERTs per transaction, one parent";;
	esac
}
