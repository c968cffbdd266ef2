# Races at random: concurrent sessions create, delete and re-key parent rows
# while others insert, move and delete their children, at READ COMMITTED
# and REPEATABLE READ, without a foreign key and with a deferred one, in
# both flush modes.  Afterwards every counter equals count(*).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('races');
$node->init;
$node->append_conf('postgresql.conf', "deadlock_timeout = 50ms\n");
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION counterfield;
CREATE TABLE fp (id int PRIMARY KEY, n int, tn int);
CREATE TABLE fc (id bigserial PRIMARY KEY, fp_id int);
CREATE INDEX ON fc (fp_id);
SELECT counterfield.add_counter('fp', 'n', 'fc', fk_columns => '{fp_id}', parent_columns => '{id}');
SELECT counterfield.add_counter('fp', 'tn', 'fc', fk_columns => '{fp_id}', parent_columns => '{id}',
                                flush => 'transaction');
CREATE TABLE dp (id int PRIMARY KEY, n int, tn int);
CREATE TABLE dc (id bigserial PRIMARY KEY,
                 dp_id int REFERENCES dp ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX ON dc (dp_id);
SELECT counterfield.add_counter('dp', 'n', 'dc');
SELECT counterfield.add_counter('dp', 'tn', 'dc', flush => 'transaction');
INSERT INTO fp SELECT g, 0, 0 FROM generate_series(1, 10) g;
INSERT INTO fc (fp_id) SELECT 1 + g % 20 FROM generate_series(1, 200) g;
INSERT INTO dp SELECT g, 0, 0 FROM generate_series(1, 10) g;
INSERT INTO dc (dp_id) SELECT 1 + g % 10 FROM generate_series(1, 100) g;
});

# Children first, their parent created by whoever gets there first.
my $children = q{
\set k random(1, 20)
\set j random(1, 20)
BEGIN ISOLATION LEVEL READ COMMITTED;
INSERT INTO fc (fp_id) VALUES (:k), (:j);
UPDATE fc SET fp_id = :j WHERE id = (SELECT min(id) FROM fc WHERE fp_id = :k);
DELETE FROM fc WHERE id = (SELECT max(id) FROM fc WHERE fp_id = :j);
COMMIT;
};
my $children_rr = $children;
$children_rr =~ s/READ COMMITTED/REPEATABLE READ/;

# Parents come and go, and change their keys.
my $parents = q{
\set k random(1, 20)
\set j random(1, 20)
BEGIN ISOLATION LEVEL READ COMMITTED;
INSERT INTO fp VALUES (:k, 0, 0) ON CONFLICT DO NOTHING;
DO $$BEGIN UPDATE fp SET id = :j WHERE id = :k + 1; EXCEPTION WHEN unique_violation THEN NULL; END$$;
DELETE FROM fp WHERE id = :j + 2;
INSERT INTO fc (fp_id) VALUES (:k);
COMMIT;
};
my $parents_rr = $parents;
$parents_rr =~ s/READ COMMITTED/REPEATABLE READ/;

# A deferred foreign key: children first, then their parent if missing, or
# the existing one locked against deletion.
my $deferred = q{
\set k random(1, 20)
\set j random(1, 20)
BEGIN;
INSERT INTO dc (dp_id) VALUES (:k);
UPDATE dc SET dp_id = :k WHERE id = (SELECT min(id) FROM dc WHERE dp_id = :j);
INSERT INTO dp VALUES (:k, 0, 0) ON CONFLICT (id) DO UPDATE SET id = excluded.id;
COMMIT;
};
my $deferred_delete = q{
\set k random(1, 20)
DELETE FROM dp WHERE id = :k AND :k % 3 = 0;
};

$node->pgbench(
	'--no-vacuum --client=6 --jobs=6 --time=8 --max-tries=100 --failures-detailed',
	0,
	[qr{processed: [1-9]}],
	[qr{}],
	'races at random',
	{
		'children' => $children,
		'children_rr' => $children_rr,
		'parents' => $parents,
		'parents_rr' => $parents_rr,
		'deferred' => $deferred,
		'deferred_delete' => $deferred_delete,
	});

for my $t (['fp', 'fc', 'fp_id'], ['dp', 'dc', 'dp_id'])
{
	my ($p, $c, $fk) = @$t;
	is( $node->safe_psql('postgres', qq{
SELECT string_agg(format('%s: n %s, tn %s, truth %s', id, n, tn, truth), '; ')
  FROM (SELECT id, n, tn, (SELECT count(*) FROM $c WHERE $fk = $p.id) AS truth FROM $p) s
 WHERE (n, tn) IS DISTINCT FROM (truth, truth)}),
		'', "$p: counters equal count(*)");
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM counterfield.verify()'),
	'0', 'verify() is empty');
cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM fp'), '>', 0, 'some parents exist');

$node->stop;
done_testing();
