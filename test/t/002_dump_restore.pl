# pg_dump and pg_restore of a database with counters, plain and custom
# format, into a fresh cluster: counters and their values come back, counting
# continues, and nothing is counted twice while the data is loaded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $old = PostgreSQL::Test::Cluster->new('old');
$old->init;
$old->start;
$old->safe_psql('postgres', q{
CREATE DATABASE app;
});
$old->safe_psql('app', q{
CREATE EXTENSION counterfield;
CREATE SCHEMA rules;
CREATE FUNCTION rules.approving(boolean) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT $1';
-- Dropped columns: a plain dump renumbers the columns after them.
CREATE TABLE repository (id int PRIMARY KEY, reviews int, ship_its int);
CREATE TABLE review_request (id int PRIMARY KEY, old_a int, old_b int,
                             review_count int, ship_it_count bigint, score_total numeric(12,1),
                             repository_id int CONSTRAINT in_repository REFERENCES repository);
CREATE TABLE review (id serial PRIMARY KEY, draft text,
                     review_request_id int REFERENCES review_request ON DELETE CASCADE,
                     ship_it boolean NOT NULL DEFAULT false, score numeric(4,1));
ALTER TABLE review_request DROP COLUMN old_a, DROP COLUMN old_b;
ALTER TABLE review DROP COLUMN draft;
CREATE TABLE note (id int PRIMARY KEY, parent_id int REFERENCES note, reply_count int);
INSERT INTO repository VALUES (1), (2), (3);
INSERT INTO review_request (id, repository_id) SELECT g, 1 + g % 3 FROM generate_series(1, 50) g;
SELECT counterfield.add_counter('review_request', 'review_count', 'review');
SELECT counterfield.add_counter('review_request', 'ship_it_count', 'review',
                                condition => 'rules.approving(ship_it)', flush => 'transaction');
SELECT counterfield.add_counter('note', 'reply_count', 'note');
SELECT counterfield.add_counter('review_request', 'score_total', 'review', sum_column => 'score');
SELECT counterfield.add_counter('repository', 'reviews', 'review', through => '{review_request}');
SELECT counterfield.add_counter('repository', 'ship_its', 'review', through => '{review_request}',
                                condition => 'ship_it', flush => 'transaction');
INSERT INTO review (review_request_id, ship_it, score)
  SELECT 1 + g % 50, g % 3 = 0, NULLIF(g % 7, 6) * 0.5 FROM generate_series(1, 2000) g;
INSERT INTO note VALUES (1, NULL), (2, 1), (3, 1), (4, 2);
});

my $truth = q{
SELECT (SELECT count(*) FROM review_request r
         WHERE (review_count, ship_it_count, score_total) IS DISTINCT FROM
               ((SELECT count(*) FROM review v WHERE v.review_request_id = r.id),
                (SELECT count(*) FROM review v WHERE v.review_request_id = r.id AND ship_it),
                (SELECT COALESCE(sum(score), 0) FROM review v WHERE v.review_request_id = r.id)))
     + (SELECT count(*) FROM note n
         WHERE reply_count IS DISTINCT FROM (SELECT count(*) FROM note c WHERE c.parent_id = n.id))
     + (SELECT count(*) FROM repository p
         WHERE (reviews, ship_its) IS DISTINCT FROM
               ((SELECT count(*) FROM review v JOIN review_request r ON r.id = v.review_request_id
                  WHERE r.repository_id = p.id),
                (SELECT count(*) FROM review v JOIN review_request r ON r.id = v.review_request_id
                  WHERE r.repository_id = p.id AND ship_it)))};
my $values = q{SELECT string_agg(review_count || '/' || ship_it_count || '/' || score_total, ' ' ORDER BY id)
                 FROM review_request};
is($old->safe_psql('app', $truth), '0', 'counters exact before the dump');
my $before = $old->safe_psql('app', $values);

my $tmp = PostgreSQL::Test::Utils::tempdir;
$old->command_ok([ 'pg_dump', '-d', $old->connstr('app'), '-f', "$tmp/app.sql" ], 'plain dump');
$old->command_ok([ 'pg_dump', '-Fc', '-d', $old->connstr('app'), '-f', "$tmp/app.dump" ], 'custom dump');

my $new = PostgreSQL::Test::Cluster->new('new');
$new->init;
$new->start;
$new->safe_psql('postgres', 'CREATE DATABASE plain; CREATE DATABASE custom;');
$new->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $new->connstr('plain'),
	'-f', "$tmp/app.sql" ], 'plain restore');
$new->command_ok([ 'pg_restore', '-d', $new->connstr('custom'), "$tmp/app.dump" ], 'custom restore');

for my $db ('plain', 'custom')
{
	is($new->safe_psql($db, $values), $before, "$db: counter values restored, not counted twice");
	is($new->safe_psql($db, $truth), '0', "$db: counters exact after restore");
	is($new->safe_psql($db, 'SELECT count(*) FROM counterfield.counters'), '6',
		"$db: counter definitions restored");
	$new->safe_psql($db, q{
INSERT INTO review (review_request_id, ship_it, score) SELECT 1 + g % 50, true, 1.5 FROM generate_series(1, 500) g;
UPDATE review SET review_request_id = 7 WHERE id % 10 = 0;
UPDATE review SET score = score + 0.5 WHERE id % 9 = 0;
UPDATE review_request SET repository_id = 3 WHERE id % 4 = 0;
DELETE FROM review WHERE id % 7 = 0;
INSERT INTO note VALUES (5, 1), (6, 5);
});
	is($new->safe_psql($db, $truth), '0', "$db: counting continues after restore");
	is($new->safe_psql($db, 'SELECT count(*) FROM counterfield.verify()'), '0', "$db: verify() is empty");
	is($new->safe_psql($db, q{SELECT string_agg(counter_column || ': ' || coalesce(condition, '-')
	                                            || coalesce(' sum ' || sum_column, ''), ', ' ORDER BY id)
	                           FROM counterfield.counters}),
		'review_count: -, ship_it_count: rules.approving(ship_it), reply_count: -, score_total: - sum score, reviews: -, ship_its: ship_it',
		"$db: definitions point at the same columns and function");
	is($new->safe_psql($db, q{SELECT count(*) FROM counterfield.counter
	                           WHERE through IS NOT NULL AND 0 <> ALL (through_fk_oids)}), '2',
		"$db: the chains' foreign keys resolved once the restore created them");
	my ($ret, $out, $err) = $new->psql($db, 'DROP FUNCTION rules.approving(boolean)');
	like($err, qr/trigger counterfield_insert on table review depends on function rules.approving/,
		"$db: restored triggers depend on the condition's function");
	$new->safe_psql($db, 'DROP EXTENSION counterfield');
	is($new->safe_psql($db, q{SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'counterfield%'}), '0',
		"$db: DROP EXTENSION removes the restored triggers");
}

$old->stop;
$new->stop;
done_testing();
