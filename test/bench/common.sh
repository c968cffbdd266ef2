# Shared set-up of the benchmark scripts: source it after setting $db.
# Creates a fresh database with the benchmark schema, a scratch directory
# $out removed on exit, and q, which runs psql quietly and stops on errors.
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

psql -Xq -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
export PGDATABASE=$db
psql -Xq -v ON_ERROR_STOP=1 -f schema.sql >/dev/null

q() { psql -XAtq -v ON_ERROR_STOP=1 "$@"; }
