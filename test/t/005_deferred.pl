# Deferred counters: the background worker folds them (and leaves a database
# without the extension alone), a crash in the middle of a fold applies
# nothing twice and loses nothing, unfolded deltas survive a crash and a
# dump and restore, and the worker stops with the server.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('deferred');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'counterfield'
counterfield.fold_interval = 100ms
restart_after_crash = on
max_prepared_transactions = 5
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE app; CREATE DATABASE plain;');
# More databases than fold workers may run at once (four): a sweep takes
# two rounds.
$node->safe_psql('postgres', 'CREATE DATABASE idle1; CREATE DATABASE idle2;');
$node->safe_psql('app', q{
CREATE EXTENSION counterfield;
CREATE TABLE post (id int PRIMARY KEY, likes bigint NOT NULL DEFAULT 0,
                   big_likes int NOT NULL DEFAULT 0);
CREATE TABLE post_like (id bigserial PRIMARY KEY, post_id int REFERENCES post, weight int);
CREATE INDEX ON post_like (post_id);
INSERT INTO post SELECT g FROM generate_series(1, 100) g;
SELECT counterfield.add_counter('post', 'likes', 'post_like', flush => 'deferred');
SELECT counterfield.add_counter('post', 'big_likes', 'post_like', condition => 'weight > 5',
                                flush => 'deferred');
});

# Parent rows whose column plus unfolded deltas differ from count(*).
my $exact = q{
SELECT count(*) FROM post p
  LEFT JOIN (SELECT parent_key, sum(delta) FILTER (WHERE counter_column = 'likes') AS l,
                    sum(delta) FILTER (WHERE counter_column = 'big_likes') AS b
               FROM counterfield.unfolded('post') GROUP BY 1) u
    ON u.parent_key = CAST(ROW(p.id) AS text)
 WHERE (p.likes + COALESCE(u.l, 0), p.big_likes + COALESCE(u.b, 0)) IS DISTINCT FROM
       ((SELECT count(*) FROM post_like c WHERE c.post_id = p.id),
        (SELECT count(*) FROM post_like c WHERE c.post_id = p.id AND c.weight > 5))};
# Parent rows whose column alone differs from count(*).
my $folded = q{
SELECT count(*) FROM post p
 WHERE (p.likes, p.big_likes) IS DISTINCT FROM
       ((SELECT count(*) FROM post_like c WHERE c.post_id = p.id),
        (SELECT count(*) FROM post_like c WHERE c.post_id = p.id AND c.weight > 5))};

$node->safe_psql('app',
	'INSERT INTO post_like (post_id, weight) SELECT 1 + g % 100, g % 10 FROM generate_series(1, 5000) g');
ok($node->poll_query_until('app', "SELECT ($folded) = 0 AND NOT EXISTS (SELECT 1 FROM counterfield.ledger)"),
	'the background worker folds deferred counters');
is($node->safe_psql('app', 'SELECT count(*) FROM counterfield.verify()'), '0', 'verify() is empty');

# Databases where nothing was written get no fold worker between sweeps
# (one every 60 rounds, over two rounds for five databases); without
# notes, every round would start one in each of them.
$node->safe_psql('postgres', q{
ALTER SYSTEM SET log_min_messages = debug1;
SELECT pg_reload_conf();
});
sleep 1;
my $offset = -s $node->logfile;
sleep 7;
my $started = () = slurp_file($node->logfile, $offset) =~ /starting background worker process "counterfield fold/g;
ok($started <= 10, "no fold worker in idle databases between sweeps ($started started in 70 rounds)");
$offset = -s $node->logfile;
$node->safe_psql('app', 'INSERT INTO post_like (post_id, weight) VALUES (9, 9)');
ok($node->poll_query_until('app', "SELECT ($folded) = 0 AND NOT EXISTS (SELECT 1 FROM counterfield.ledger)"),
	'a write is folded');
like(slurp_file($node->logfile, $offset), qr/starting background worker process "counterfield fold/,
	'by a fold worker that the write\'s database got');
$node->safe_psql('postgres', q{
ALTER SYSTEM RESET log_min_messages;
SELECT pg_reload_conf();
});

# A prepared transaction's deltas are folded once it commits.
$node->safe_psql('app', q{
BEGIN;
INSERT INTO post_like (post_id, weight) VALUES (7, 9), (8, 1);
PREPARE TRANSACTION 'likes';
});
is($node->safe_psql('app', 'SELECT count(*) FROM counterfield.ledger'), '0', 'a prepared transaction\'s deltas are not visible');
$node->safe_psql('app', q{COMMIT PREPARED 'likes'});
ok($node->poll_query_until('app', "SELECT ($folded) = 0 AND NOT EXISTS (SELECT 1 FROM counterfield.ledger)"),
	'the deltas of a committed prepared transaction are folded');

# Crash in the middle of a fold: the fold's transaction is open, the parent
# rows updated, the ledger rows deleted, when the server goes down.
$node->safe_psql('app', q{
ALTER SYSTEM SET counterfield.fold_interval = 0;
SELECT pg_reload_conf();
});
sleep 1;
$node->safe_psql('app',
	'INSERT INTO post_like (post_id, weight) SELECT 1 + g % 100, g % 10 FROM generate_series(1, 3000) g');
my $before = $node->safe_psql('app', 'SELECT sum(likes) FROM post');
my $pending = $node->safe_psql('app', 'SELECT count(*) FROM counterfield.ledger');
ok($pending > 0, 'writes left unfolded deltas');
my $fold = $node->background_psql('app', on_error_stop => 0);
$fold->query_safe('BEGIN');
is($fold->query_safe('SELECT counterfield.fold() > 0'), 't', 'a fold in progress updated parents');
$node->stop('immediate');
$fold->quit;
$node->start;
is($node->safe_psql('app', 'SELECT sum(likes) FROM post'), $before, 'after the crash, the fold left nothing in the parents');
is($node->safe_psql('app', 'SELECT count(*) FROM counterfield.ledger'), $pending,
	'after the crash, the unfolded deltas are all there');
is($node->safe_psql('app', $exact), '0', 'after the crash, column plus unfolded deltas is exact');
is($node->safe_psql('app', 'SELECT counterfield.fold() > 0'), 't', 'folding again');
is($node->safe_psql('app', $folded), '0', 'after folding again, the columns are exact');

# Unfolded deltas survive a crash of the writers' server.
$node->safe_psql('app',
	'INSERT INTO post_like (post_id, weight) SELECT 1 + g % 100, 9 FROM generate_series(1, 700) g');
$node->stop('immediate');
$node->start;
is($node->safe_psql('app', $exact), '0', 'committed deltas survive a crash');

# Dump and restore with unfolded deltas: they come back unfolded, and the
# rows loaded meanwhile are not counted again.  Enum keys, whose hashes
# hash OIDs that the restore changes, are still found by a new parent.
$node->safe_psql('app', q{
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE mp (id mood PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE mc (id serial PRIMARY KEY, pid mood);
SELECT counterfield.add_counter('mp', 'n', 'mc', fk_columns => '{pid}', parent_columns => '{id}',
                                flush => 'deferred');
INSERT INTO mp VALUES ('sad');
INSERT INTO mc (pid) VALUES ('sad'), ('happy'), ('happy');
});
my $tmp = PostgreSQL::Test::Utils::tempdir;
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('app'), '-f', "$tmp/app.dump" ], 'dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), "$tmp/app.dump" ], 'restore');
is($node->safe_psql('restored', 'SELECT count(*) FROM counterfield.ledger'),
	$node->safe_psql('app', 'SELECT count(*) FROM counterfield.ledger'),
	'the unfolded deltas are restored');
my $values = q{SELECT string_agg(likes || '/' || big_likes, ' ' ORDER BY id) FROM post};
is($node->safe_psql('restored', $values), $node->safe_psql('app', $values),
	'the columns are restored as they were, not counted again');
is($node->safe_psql('restored', $exact), '0', 'restored: column plus unfolded deltas is exact');
$node->safe_psql('restored', 'INSERT INTO post_like (post_id, weight) VALUES (1, 9), (2, 1)');
$node->safe_psql('restored', q{INSERT INTO mp VALUES ('happy')});
is($node->safe_psql('restored', 'SELECT counterfield.fold() > 0'), 't', 'restored: folding');
is($node->safe_psql('restored', $folded), '0', 'restored: the columns are exact after folding');
is($node->safe_psql('restored', 'SELECT count(*) FROM counterfield.ledger'), '0', 'restored: the ledger is empty');
is($node->safe_psql('restored', q{SELECT string_agg(mp.id || '=' || mp.n || '/' || (SELECT count(*) FROM mc WHERE mc.pid = mp.id), ' ' ORDER BY mp.id) FROM mp}),
	'sad=1/1 happy=2/2', 'restored: a new parent of an enum key counts what was unfolded once');

# DROP EXTENSION folds first: the columns keep their exact values.
$node->safe_psql('restored', 'INSERT INTO post_like (post_id, weight) VALUES (1, 9), (2, 1)');
ok($node->safe_psql('restored', 'SELECT count(*) FROM counterfield.ledger') > 0, 'restored: new unfolded deltas');
$node->safe_psql('restored', 'DROP EXTENSION counterfield');
is($node->safe_psql('restored', $folded), '0', 'after DROP EXTENSION, the columns are exact');

# Background folding again, over three databases, one without counterfield.
$node->safe_psql('app', q{
ALTER SYSTEM RESET counterfield.fold_interval;
SELECT pg_reload_conf();
});

# A shorter interval counts from the last round, not from the end of the
# longer one.
$node->safe_psql('app', q{
ALTER SYSTEM SET counterfield.fold_interval = '10min';
SELECT pg_reload_conf();
});
sleep 1;
$node->safe_psql('app', q{
ALTER SYSTEM RESET counterfield.fold_interval;
SELECT pg_reload_conf();
});
$node->safe_psql('app', 'INSERT INTO post_like (post_id, weight) VALUES (10, 9)');
sleep 2;
is($node->safe_psql('app', $folded), '0', 'a shorter interval takes effect at once');
$node->safe_psql('app', 'INSERT INTO post_like (post_id, weight) VALUES (3, 9), (4, 1)');
ok($node->poll_query_until('app', "SELECT ($folded) = 0 AND NOT EXISTS (SELECT 1 FROM counterfield.ledger)"),
	'after the interval is set again, the worker folds again');
# A counter that cannot be folded (its parent refuses the value), or whose
# parent row is locked elsewhere, does not hold up the other counters.
$node->safe_psql('app', q{
CREATE TABLE capped (id int PRIMARY KEY, n int NOT NULL DEFAULT 0 CHECK (n <= 1));
CREATE TABLE capped_item (id serial PRIMARY KEY, capped_id int REFERENCES capped);
SELECT counterfield.add_counter('capped', 'n', 'capped_item', flush => 'deferred');
INSERT INTO capped VALUES (1);
CREATE TABLE tag (id int PRIMARY KEY, uses int NOT NULL DEFAULT 0);
CREATE TABLE tag_use (id serial PRIMARY KEY, tag_id int REFERENCES tag);
SELECT counterfield.add_counter('tag', 'uses', 'tag_use', flush => 'deferred');
INSERT INTO tag VALUES (1);
});
my $locker = $node->background_psql('app', on_error_stop => 0);
$locker->query_safe('BEGIN');
$locker->query_safe('SELECT * FROM tag WHERE id = 1 FOR NO KEY UPDATE');
$node->safe_psql('app', q{
INSERT INTO capped_item (capped_id) VALUES (1), (1);
INSERT INTO tag_use (tag_id) VALUES (1);
INSERT INTO post_like (post_id, weight) VALUES (5, 9), (6, 9);
});
ok($node->poll_query_until('app', "SELECT ($folded) = 0"),
	'a locked parent row and a failing counter do not hold up the other counters');
ok($node->log_contains('could not fold counter "n" of table "capped"'), 'the failing counter is reported');
# It is tried again once per interval, not as fast as new workers start.
$node->safe_psql('app', q{
ALTER SYSTEM SET counterfield.fold_interval = '1s';
SELECT pg_reload_conf();
});
sleep 2;
$offset = -s $node->logfile;
sleep 4;
my $retries = () = slurp_file($node->logfile, $offset) =~ /could not fold counter "n" of table "capped"/g;
ok($retries >= 1 && $retries <= 6, "a failing counter is tried again once per interval ($retries times in 4 s at 1 s)");
$node->safe_psql('app', q{
ALTER SYSTEM RESET counterfield.fold_interval;
SELECT pg_reload_conf();
});
ok($node->poll_query_until('app', q{SELECT count(*) = 2 FROM counterfield.unfolded() WHERE parent IN ('capped'::regclass, 'tag'::regclass)}),
	'the deltas of the failing and the waiting counter stay unfolded');
$locker->query_safe('COMMIT');
$locker->quit;
ok($node->poll_query_until('app', "SELECT uses = 1 FROM tag"), 'the locked row is folded once it is free');
$node->safe_psql('app', 'DELETE FROM capped_item WHERE id = 1');
ok($node->poll_query_until('app', q{SELECT NOT EXISTS (SELECT 1 FROM counterfield.ledger)}),
	'the failing counter is folded once its parent accepts the value');
is($node->safe_psql('app', 'SELECT n FROM capped'), '1', 'and is exact');

my $log = slurp_file($node->logfile);
unlike($log, qr/ERROR|FATAL:.*counterfield/, 'no worker errors, also in the database without counterfield');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'counterfield launcher'}), '1',
	'one launcher runs');

# The worker stops with the server, and a database can be dropped meanwhile.
$node->safe_psql('postgres', 'DROP DATABASE plain');
$node->stop('fast');
ok(1, 'the server stops with the worker running');

done_testing();
