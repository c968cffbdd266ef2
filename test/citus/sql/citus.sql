-- counterfield on a Citus coordinator: counters between its own tables
-- work as anywhere else; shapes involving tables whose rows Citus keeps in
-- shards are refused, each with its reason.
SET citus.shard_count = 4;
SET citus.next_shard_id = 900000;
SET client_min_messages = error;

-- plain tables of the coordinator: every write path, against count(*)
CREATE TABLE lp (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, tn int NOT NULL DEFAULT 0);
CREATE TABLE lc (id serial PRIMARY KEY, lp_id int REFERENCES lp ON DELETE CASCADE);
INSERT INTO lp (id) SELECT g FROM generate_series(1, 10) g;
INSERT INTO lc (lp_id) SELECT 1 + g % 10 FROM generate_series(1, 100) g;
SELECT counterfield.add_counter('lp', 'n', 'lc');
SELECT counterfield.add_counter('lp', 'tn', 'lc', flush => 'transaction');
CREATE VIEW lp_wrong AS
  SELECT count(*) AS wrong FROM lp
   WHERE (n, tn) <> (SELECT count(*), count(*) FROM lc WHERE lc.lp_id = lp.id);
SELECT * FROM lp_wrong;
INSERT INTO lc (lp_id) VALUES (1), (2), (2);
UPDATE lc SET lp_id = 3 WHERE lp_id = 2;
DELETE FROM lc WHERE lp_id = 4;
COPY lc (lp_id) FROM STDIN;
5
5
6
\.
BEGIN;
INSERT INTO lc (lp_id) SELECT 7 FROM generate_series(1, 5);
DELETE FROM lp WHERE id = 8;
COMMIT;
SELECT * FROM lp_wrong;
SELECT * FROM counterfield.verify('lp');

-- a deferred counter, folded by counterfield's background worker beside Citus's
ALTER TABLE lp ADD COLUMN dn int NOT NULL DEFAULT 0;
SELECT counterfield.add_counter('lp', 'dn', 'lc', flush => 'deferred');
INSERT INTO lc (lp_id) VALUES (1), (1), (9);
DELETE FROM lc WHERE lp_id = 3;
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN NOT EXISTS (SELECT FROM counterfield.unfolded('lp', 'dn'));
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT count(*) AS unfolded_keys FROM counterfield.unfolded('lp', 'dn');
SELECT count(*) AS wrong FROM lp WHERE dn <> (SELECT count(*) FROM lc WHERE lc.lp_id = lp.id);
SELECT counterfield.drop_counter('lp', 'dn');

-- a distributed parent and child, co-located: kept on the shards (see
-- distributed.sql), but not where the key does not pair the distribution
-- columns, or the tables are not co-located
CREATE TABLE dp (tenant int, id int, n int NOT NULL DEFAULT 0, PRIMARY KEY (tenant, id));
CREATE TABLE dc (tenant int, id int, dp_id int, PRIMARY KEY (tenant, id),
                 FOREIGN KEY (tenant, dp_id) REFERENCES dp (tenant, id));
SELECT create_distributed_table('dp', 'tenant');
SELECT create_distributed_table('dc', 'tenant', colocate_with => 'dp');
SELECT counterfield.add_counter('dp', 'n', 'dc');
-- the key matches the distribution columns crosswise
SELECT counterfield.add_counter('dp', 'n', 'dc', fk_columns => '{dp_id, tenant}',
                                parent_columns => '{tenant, id}');

-- not co-located
CREATE TABLE dc_apart (tenant int, id int, dp_id int, PRIMARY KEY (tenant, id));
SELECT create_distributed_table('dc_apart', 'tenant', colocate_with => 'none');
SELECT counterfield.add_counter('dp', 'n', 'dc_apart', fk_columns => '{tenant, dp_id}',
                                parent_columns => '{tenant, id}');

-- a distributed table and a local one
CREATE TABLE lc_of_dp (id serial PRIMARY KEY, tenant int, dp_id int);
SELECT counterfield.add_counter('dp', 'n', 'lc_of_dp', fk_columns => '{tenant, dp_id}',
                                parent_columns => '{tenant, id}');
CREATE TABLE dc_of_lp (tenant int, id int, lp_id int, PRIMARY KEY (tenant, id));
SELECT create_distributed_table('dc_of_lp', 'tenant');
ALTER TABLE lp ADD COLUMN n2 int NOT NULL DEFAULT 0;
SELECT counterfield.add_counter('lp', 'n2', 'dc_of_lp', fk_columns => '{lp_id}');

-- a reference table as the parent, of a distributed or a reference child
CREATE TABLE rp (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
SELECT create_reference_table('rp');
CREATE TABLE rc (id int PRIMARY KEY, rp_id int REFERENCES rp);
SELECT create_reference_table('rc');
SELECT counterfield.add_counter('rp', 'n', 'rc');
SELECT counterfield.add_counter('rp', 'n', 'dc_of_lp', fk_columns => '{lp_id}');

-- a Citus local table
CREATE TABLE cp (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE cc (id int PRIMARY KEY, cp_id int REFERENCES cp);
SELECT citus_add_local_table_to_metadata('cp', cascade_via_foreign_keys => true);
SELECT counterfield.add_counter('cp', 'n', 'cc');
-- nor on its shards, which hold its rows
SELECT shard_name('cp'::regclass, shardid) AS cp_shard FROM pg_dist_shard
 WHERE logicalrelid = 'cp'::regclass \gset
SELECT shard_name('cc'::regclass, shardid) AS cc_shard FROM pg_dist_shard
 WHERE logicalrelid = 'cc'::regclass \gset
SELECT counterfield.add_counter(:'cp_shard', 'n', :'cc_shard');

-- through a distributed intermediate
CREATE TABLE dg (tenant int, id int, dc_id int, PRIMARY KEY (tenant, id),
                 FOREIGN KEY (tenant, dc_id) REFERENCES dc (tenant, id));
SELECT create_distributed_table('dg', 'tenant', colocate_with => 'dp');
SELECT counterfield.add_counter('dp', 'n', 'dg', through => '{dc}');

-- counted tables that Citus is asked to take over
CREATE TABLE xp (tenant int, id int, n int NOT NULL DEFAULT 0, PRIMARY KEY (tenant, id));
CREATE TABLE xc (tenant int, id int, xp_id int, PRIMARY KEY (tenant, id),
                 FOREIGN KEY (tenant, xp_id) REFERENCES xp (tenant, id));
INSERT INTO xp VALUES (1, 1);
INSERT INTO xc VALUES (1, 1, 1);
SELECT counterfield.add_counter('xp', 'n', 'xc');
SELECT create_distributed_table('xp', 'tenant');
SET citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('xp', 'tenant');
SELECT create_distributed_table('xc', 'tenant', colocate_with => 'xp');
INSERT INTO xc VALUES (1, 10, 1);
RESET citus.enable_unsafe_triggers;
SELECT citus_add_local_table_to_metadata('xp', cascade_via_foreign_keys => true);
INSERT INTO xc VALUES (1, 11, 1);
SELECT count(*) AS wrong FROM xp WHERE n <> (SELECT count(*) FROM xc WHERE xc.xp_id = xp.id);
-- the counter followed the tables to their shards' names; dropping it there
-- removes every trigger of it, Citus's copies and the shells' included
SELECT parent, child FROM counterfield.counters WHERE child::text LIKE 'xc%';
SELECT counterfield.drop_counter(parent, counter_column) FROM counterfield.counters
 WHERE child::text LIKE 'xc%';
INSERT INTO xc VALUES (1, 12, 1);
SELECT count(*) AS counterfield_triggers FROM pg_trigger t JOIN pg_proc f ON f.oid = t.tgfoid
 WHERE f.proname IN ('child_trigger', 'parent_trigger') AND t.tgrelid::regclass::text LIKE 'x%';

-- a counted table that Citus takes over when it references a reference table,
-- in a schema of its own
CREATE SCHEMA tk;
CREATE TABLE tk.ap (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, m int NOT NULL DEFAULT 0);
CREATE TABLE tk.ac (id int PRIMARY KEY, ap_id int REFERENCES tk.ap, r int);
INSERT INTO tk.ap VALUES (1);
SELECT counterfield.add_counter('tk.ap', 'n', 'tk.ac');
SELECT counterfield.add_counter('tk.ap', 'm', 'tk.ac', condition => 'id > 0');
ALTER TABLE tk.ac ADD FOREIGN KEY (r) REFERENCES rp;
INSERT INTO tk.ac VALUES (1, 1, NULL);
-- while one counter is left, writes are still refused
SELECT counterfield.drop_counter(parent, counter_column) FROM counterfield.counters
 WHERE child::text LIKE 'tk.ac%' AND counter_column = 'm';
INSERT INTO tk.ac VALUES (1, 1, NULL);
SELECT counterfield.drop_counter(parent, counter_column) FROM counterfield.counters
 WHERE child::text LIKE 'tk.ac%';
INSERT INTO tk.ac VALUES (1, 1, NULL);
SELECT count(*) AS counterfield_triggers FROM pg_trigger t JOIN pg_proc f ON f.oid = t.tgfoid
 WHERE f.proname IN ('child_trigger', 'parent_trigger') AND t.tgrelid::regclass::text LIKE 'tk.a%';

-- dp's counter was the only one added, and the coordinator's counters
-- still count
SELECT parent, counter_column, child FROM counterfield.counters ORDER BY 1, 2;
INSERT INTO lc (lp_id) VALUES (9), (10);
SELECT * FROM lp_wrong;

DROP VIEW lp_wrong;
DROP TABLE lc, lp, dg, dc, dp, dc_apart, lc_of_dp, dc_of_lp, rc, tk.ac, tk.ap, rp, cc, cp, xc, xp;
DROP SCHEMA tk;
