# Logical replication: the subscriber applies the publisher's child rows and
# counter values; its own counterfield triggers do not fire for applied
# changes (session_replication_role = replica), so nothing is counted twice.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $schema = q{
CREATE EXTENSION counterfield;
CREATE TABLE topic (id int PRIMARY KEY, post_count int);
CREATE TABLE post (id int PRIMARY KEY, topic_id int REFERENCES topic ON DELETE CASCADE);
};

my $pub = PostgreSQL::Test::Cluster->new('publisher');
$pub->init(allows_streaming => 'logical');
$pub->start;
my $sub = PostgreSQL::Test::Cluster->new('subscriber');
$sub->init;
$sub->start;

for my $node ($pub, $sub)
{
	$node->safe_psql('postgres', $schema);
	$node->safe_psql('postgres', q{SELECT counterfield.add_counter('topic', 'post_count', 'post')});
}
$pub->safe_psql('postgres', q{
INSERT INTO topic SELECT g FROM generate_series(1, 10) g;
CREATE PUBLICATION pub FOR TABLE topic, post;
});
$sub->safe_psql('postgres',
	"CREATE SUBSCRIPTION sub CONNECTION '" . $pub->connstr . " dbname=postgres' PUBLICATION pub");
$sub->wait_for_subscription_sync($pub, 'sub');

$pub->safe_psql('postgres', q{
INSERT INTO post SELECT g, 1 + g % 10 FROM generate_series(1, 500) g;
UPDATE post SET topic_id = 3 WHERE id % 7 = 0;
DELETE FROM post WHERE id % 11 = 0;
DELETE FROM topic WHERE id = 10;
});
$pub->wait_for_catchup('sub');

my $counts = q{SELECT string_agg(id || ':' || post_count, ' ' ORDER BY id) FROM topic};
my $truth = q{SELECT count(*) FROM topic t
 WHERE post_count IS DISTINCT FROM (SELECT count(*) FROM post p WHERE p.topic_id = t.id)};
is($pub->safe_psql('postgres', $truth), '0', 'publisher counters equal count(*)');
is($sub->safe_psql('postgres', $counts), $pub->safe_psql('postgres', $counts),
	'subscriber has the publisher counter values');
is($sub->safe_psql('postgres', $truth), '0', 'subscriber counters equal count(*), not counted twice');

$sub->stop;
$pub->stop;
done_testing();
