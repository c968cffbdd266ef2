# Crash safety: a killed backend, an immediate stop in the middle of a bulk
# write and of a transaction-mode commit, and two-phase commit across a
# restart all leave every counter equal to count(*).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', "max_prepared_transactions = 5\nrestart_after_crash = on\n");
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION counterfield;
CREATE TABLE parent (id int PRIMARY KEY, n bigint, tn bigint);
CREATE TABLE child (id bigserial PRIMARY KEY, parent_id int REFERENCES parent);
INSERT INTO parent SELECT g, 0, 0 FROM generate_series(1, 100) g;
SELECT counterfield.add_counter('parent', 'n', 'child');
SELECT counterfield.add_counter('parent', 'tn', 'child', flush => 'transaction');
INSERT INTO child (parent_id) SELECT 1 + g % 100 FROM generate_series(1, 10000) g;
});

# Every counter equals count(*), and verify() agrees.
sub check_counts
{
	my ($what) = @_;
	my $bad = $node->safe_psql('postgres', q{
SELECT count(*) FROM parent p
 WHERE (n, tn) IS DISTINCT FROM
       ((SELECT count(*) FROM child c WHERE c.parent_id = p.id),
        (SELECT count(*) FROM child c WHERE c.parent_id = p.id))});
	is($bad, '0', "$what: counters equal count(*)");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM counterfield.verify()'),
		'0', "$what: verify() is empty");
}

# Waits until the server accepts connections again.
sub wait_for_restart
{
	$node->poll_query_until('postgres', 'SELECT 1', '1')
	  or die "server did not restart";
}

check_counts('before any crash');
my $committed = $node->safe_psql('postgres', 'SELECT count(*) FROM child');

# kill -9 of a backend in the middle of an open transaction-mode transaction
my $bg = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $bg->query_safe('SELECT pg_backend_pid()');
$bg->query_safe('BEGIN');
$bg->query_safe('INSERT INTO child (parent_id) SELECT 1 + g % 100 FROM generate_series(1, 5000) g');
kill 'KILL', $pid;
eval { $bg->quit };
wait_for_restart();
is($node->safe_psql('postgres', 'SELECT count(*) FROM child'), $committed,
	'killed backend: uncommitted rows are gone');
check_counts('after kill -9 of a backend');

# immediate stop in the middle of a long bulk write
$bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/started/, q{
\echo started
INSERT INTO child (parent_id) SELECT 1 + g % 100 FROM generate_series(1, 3000000) g;
});
sleep 1;
$node->stop('immediate');
eval { $bg->quit };
$node->start;
check_counts('after an immediate stop during a bulk write');

# immediate stop while many transaction-mode commits are under way
my @sessions;
for my $i (1 .. 4)
{
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_until(qr/go/, qq{
\\echo go
DO \$\$
BEGIN
    FOR i IN 1..100000 LOOP
        INSERT INTO child (parent_id) VALUES (1 + (i * $i) % 100);
        COMMIT;
    END LOOP;
END \$\$;
});
	push @sessions, $s;
}
sleep 1;
$node->stop('immediate');
eval { $_->quit } for @sessions;
$node->start;
check_counts('after an immediate stop during transaction-mode commits');

# two-phase commit survives a restart: COMMIT PREPARED and ROLLBACK PREPARED
$node->safe_psql('postgres', q{
BEGIN;
INSERT INTO child (parent_id) SELECT 1 + g % 7 FROM generate_series(1, 700) g;
PREPARE TRANSACTION 'keep';
BEGIN;
INSERT INTO child (parent_id) SELECT 11 + g % 9 FROM generate_series(1, 900) g;
PREPARE TRANSACTION 'drop';
});
$node->restart;
is($node->safe_psql('postgres', 'SELECT counterfield.has_tracked_states()'), 'f',
	'nothing is pending after PREPARE and restart');
$node->safe_psql('postgres', q{COMMIT PREPARED 'keep'; ROLLBACK PREPARED 'drop';});
check_counts('after COMMIT PREPARED and ROLLBACK PREPARED across a restart');

$node->stop;
done_testing();
