# Shared by instructions.sh, sums.sh and chains.sh: a throwaway cluster in
# $dir with a database bench, removed on exit, and the functions that count
# what SQL costs in a single-user backend of it.

dir=$(mktemp -d)
trap 'pg_ctl -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
initdb -D "$dir/data" -A trust -U postgres >/dev/null
pg_ctl -D "$dir/data" -l "$dir/log" -w -o "-c listen_addresses='' -k $dir" start >/dev/null
psql -Xq -h "$dir" -U postgres -d postgres -c "CREATE DATABASE bench"

# Runs psql on the bench database while the cluster runs; stops on errors.
bench_psql() { psql -XAtq -h "$dir" -U postgres -d bench -v ON_ERROR_STOP=1 "$@"; }

# Stops the cluster: what follows runs single-user backends.
stop_cluster() { pg_ctl -D "$dir/data" -w stop >/dev/null; }

# Runs SQL read from stdin, one statement per line, in a single-user backend.
single() { postgres --single -D "$dir/data" -c synchronous_commit=off bench 2>/dev/null; }

# Instructions of a single-user backend that runs SQL, start to exit.
instructions() {
	rm -f "$dir"/callgrind.*
	echo "$1" | valgrind -q --tool=callgrind --callgrind-out-file="$dir/callgrind.%p" \
		postgres --single -D "$dir/data" -c synchronous_commit=off bench >/dev/null 2>&1
	sed -n 's/^summary: \([0-9]*\)/\1/p' "$dir"/callgrind.* | head -1
}

# Does a single-user backend answer the query "SELECT ... AS ok" with true?
single_ok() { echo "$1" | single | grep -q 'ok = "t"'; }
