-- Partitioned tables as child and as parent, writes that name a partition,
-- partitions created, attached, detached, truncated and dropped after the
-- counter, and inheritance children: a child's rows are the rows of all the
-- tables under it, and every way they come or go is counted.
CREATE TABLE region (id int PRIMARY KEY, order_count int, big_count int, tx_count int)
    PARTITION BY RANGE (id);
CREATE TABLE region_low PARTITION OF region FOR VALUES FROM (0) TO (100);
CREATE TABLE region_high PARTITION OF region FOR VALUES FROM (100) TO (200);
CREATE TABLE orders (id int, region_id int REFERENCES region, status text, amount int,
                     PRIMARY KEY (id, status)) PARTITION BY LIST (status);
CREATE TABLE orders_open PARTITION OF orders FOR VALUES IN ('open');
-- a partition whose columns are in another order, with a dropped one
CREATE TABLE orders_done (status text NOT NULL, junk int, amount int, region_id int,
                          id int NOT NULL);
ALTER TABLE orders_done DROP COLUMN junk;
ALTER TABLE orders ATTACH PARTITION orders_done FOR VALUES IN ('done');
INSERT INTO region VALUES (1), (150);
SELECT counterfield.add_counter('region', 'order_count', 'orders');
SELECT counterfield.add_counter('region', 'big_count', 'orders', condition => 'amount > 10');
SELECT counterfield.add_counter('region', 'tx_count', 'orders', flush => 'transaction');
CREATE VIEW check_region AS
  SELECT mismatches('region', 'order_count', 'orders', 'region_id')
       + mismatches('region', 'big_count', 'orders', 'region_id', cond => 'amount > 10')
       + mismatches('region', 'tx_count', 'orders', 'region_id') AS mismatches,
         (SELECT string_agg(format('%s:%s/%s/%s', id, order_count, big_count, tx_count), ' '
                            ORDER BY id) FROM region) AS counts;
-- a partition cannot be the child
SELECT counterfield.add_counter('region', 'order_count', 'orders_open');
-- the triggers: on the child and on every partition of it
SELECT tgrelid::regclass, count(*) FROM pg_trigger
 WHERE tgname LIKE '%counterfield%' AND tgrelid::regclass::text LIKE 'orders%'
 GROUP BY 1 ORDER BY 1;

INSERT INTO orders VALUES (1, 1, 'open', 5), (2, 1, 'open', 50), (3, 150, 'done', 20);
-- moving rows between partitions of the child counts them once
UPDATE orders SET status = 'done' WHERE id = 1;
UPDATE orders SET status = 'open', region_id = 150 WHERE id = 2;
SELECT * FROM check_region;
-- writes that name a partition are counted, whatever its column order
INSERT INTO orders_open VALUES (10, 1, 'open', 30), (11, 150, 'open', 1);
INSERT INTO orders_done (id, region_id, status, amount) VALUES (12, 1, 'done', 99);
UPDATE orders_done SET amount = 1 WHERE id = 12;
UPDATE orders_open SET region_id = 1 WHERE id = 11;
DELETE FROM orders_done WHERE id = 1;
COPY orders_open (id, region_id, status, amount) FROM stdin;
13	150	open	40
\.
SELECT * FROM check_region;
BEGIN;
INSERT INTO orders_done VALUES ('done', 70, 150, 14);
DELETE FROM orders_open WHERE id = 10;
COMMIT;
SELECT * FROM check_region;

-- a new parent row in a partition gets its true count; the guard holds there
INSERT INTO region VALUES (50, 7, 7, 7);
INSERT INTO orders VALUES (4, 50, 'open', 11);
UPDATE region SET order_count = 99 WHERE id = 1;
INSERT INTO region_low VALUES (60, 5, 5, 5);
UPDATE region_low SET order_count = 99 WHERE id = 50;
SELECT * FROM check_region;

-- partitions created, attached and detached later: rows that come or go
-- with them are counted, and writes naming them too
CREATE TABLE orders_lost (LIKE orders);
INSERT INTO orders_lost VALUES (5, 1, 'lost', 15), (6, 150, 'lost', 2);
ALTER TABLE orders ATTACH PARTITION orders_lost FOR VALUES IN ('lost');
SELECT * FROM check_region;
INSERT INTO orders_lost VALUES (7, 1, 'lost', 100);
CREATE TABLE orders_held PARTITION OF orders FOR VALUES IN ('held') PARTITION BY RANGE (id);
CREATE TABLE orders_held_1 PARTITION OF orders_held FOR VALUES FROM (0) TO (1000);
INSERT INTO orders_held_1 VALUES (8, 150, 'held', 12);
INSERT INTO orders_held VALUES (9, 1, 'held', 3);
SELECT * FROM check_region;
ALTER TABLE orders DETACH PARTITION orders_lost;
INSERT INTO orders_lost VALUES (20, 1, 'lost', 100);
SELECT * FROM check_region;
-- a detached partitioned table takes its partitions with it
ALTER TABLE orders DETACH PARTITION orders_held;
INSERT INTO orders_held VALUES (21, 1, 'held', 3);
SELECT * FROM check_region;
SELECT tgrelid::regclass FROM pg_trigger
 WHERE tgname LIKE '%counterfield%' AND tgrelid IN ('orders_lost'::regclass,
                                                  'orders_held'::regclass,
                                                  'orders_held_1'::regclass);
ALTER TABLE orders ATTACH PARTITION orders_held FOR VALUES IN ('held');
SELECT * FROM check_region;

-- TRUNCATE of one partition takes its rows from the counts; of the child,
-- all of them (transaction-mode counts follow at commit)
BEGIN;
TRUNCATE orders_done;
SELECT * FROM check_region;
TRUNCATE orders_held;
COMMIT;
SELECT * FROM check_region;
-- dropping a partition with rows
INSERT INTO orders_held VALUES (30, 150, 'held', 33);
DROP TABLE orders_held;
SELECT * FROM check_region;
SELECT * FROM counterfield.verify('region');
TRUNCATE orders;
SELECT * FROM check_region;
SELECT counterfield.drop_counter('region', 'order_count');
SELECT counterfield.drop_counter('region', 'big_count');
SELECT counterfield.drop_counter('region', 'tx_count');
SELECT count(*) AS triggers_left FROM pg_trigger
 WHERE tgname LIKE '%counterfield%' AND tgrelid::regclass::text LIKE 'orders%';
DROP VIEW check_region;
DROP TABLE orders, orders_lost, region;

-- Inheritance: the rows of tables that inherit from the child are its rows
-- too, in both directions: inserted into the inheriting table they count,
-- and an UPDATE or DELETE of the child that reaches them moves or removes
-- them from the counts.
CREATE TABLE shop (id int PRIMARY KEY, item_count int, gift_count int);
CREATE TABLE item (id int, shop_id int REFERENCES shop, price int);
CREATE TABLE gift_item (wrapping text) INHERITS (item);
INSERT INTO shop VALUES (1), (2);
INSERT INTO item VALUES (1, 1, 10);
INSERT INTO gift_item VALUES (2, 1, 20, 'red');
SELECT counterfield.add_counter('shop', 'item_count', 'item', fk_columns => '{shop_id}');
SELECT id, item_count, (SELECT count(*) FROM item i WHERE i.shop_id = s.id) AS truth
  FROM shop s ORDER BY id;
INSERT INTO gift_item VALUES (3, 2, 30, 'blue'), (4, 2, 40, 'gold');
UPDATE item SET shop_id = 1 WHERE id = 4;
DELETE FROM item WHERE id = 3;
UPDATE ONLY item SET shop_id = 2 WHERE id = 1;
SELECT mismatches('shop', 'item_count', 'item', 'shop_id') AS mismatches;
-- tables that start or stop inheriting bring or take their rows
CREATE TABLE old_item (id int, shop_id int, price int);
INSERT INTO old_item VALUES (5, 2, 1), (6, 2, 1);
ALTER TABLE old_item INHERIT item;
SELECT mismatches('shop', 'item_count', 'item', 'shop_id') AS mismatches;
INSERT INTO old_item VALUES (7, 1, 1);
ALTER TABLE gift_item NO INHERIT item;
INSERT INTO gift_item VALUES (8, 1, 1, 'green');
SELECT mismatches('shop', 'item_count', 'item', 'shop_id') AS mismatches;
-- TRUNCATE ONLY the child keeps the inheriting tables' rows; TRUNCATE all
TRUNCATE ONLY item;
SELECT mismatches('shop', 'item_count', 'item', 'shop_id') AS mismatches;
INSERT INTO item VALUES (9, 1, 1);
TRUNCATE item;
SELECT id, item_count, (SELECT count(*) FROM item i WHERE i.shop_id = s.id) AS truth
  FROM shop s ORDER BY id;
-- a table whose rows two children would count is refused
SELECT counterfield.add_counter('shop', 'gift_count', 'gift_item', fk_columns => '{shop_id}');
ALTER TABLE gift_item INHERIT item;
SELECT counterfield.drop_counter('shop', 'gift_count');
SELECT counterfield.add_counter('shop', 'gift_count', 'old_item', fk_columns => '{shop_id}');
SELECT counterfield.drop_counter('shop', 'item_count');
SELECT counterfield.add_counter('shop', 'gift_count', 'old_item', fk_columns => '{shop_id}');
SELECT counterfield.add_counter('shop', 'item_count', 'item', fk_columns => '{shop_id}');
SELECT counterfield.drop_counter('shop', 'gift_count');
DROP TABLE gift_item, old_item, item, shop;

-- A partition of another owner: its rows are read as they are, without its
-- privileges or its row-level security, which would run its owner's code
-- as the child's owner; a superuser can detach it, its owner truncate and
-- drop it.
CREATE ROLE cf_part_owner;
CREATE TABLE op (id int PRIMARY KEY, n int);
CREATE TABLE oc (op_id int, v int) PARTITION BY LIST (v);
CREATE INDEX ON oc (op_id);
CREATE TABLE oc1 PARTITION OF oc FOR VALUES IN (1);
CREATE TABLE oc2 PARTITION OF oc FOR VALUES IN (2);
ALTER TABLE oc1 OWNER TO cf_part_owner;
ALTER TABLE oc2 OWNER TO cf_part_owner;
INSERT INTO op VALUES (1);
SELECT counterfield.add_counter('op', 'n', 'oc', fk_columns => '{op_id}');
CREATE TABLE spy_log (who name);
GRANT INSERT ON spy_log TO PUBLIC;
CREATE FUNCTION spy() RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO public.spy_log VALUES (current_user); RETURN true; END $$;
ALTER FUNCTION spy() OWNER TO cf_part_owner;
ALTER TABLE oc1 ENABLE ROW LEVEL SECURITY;
ALTER TABLE oc1 FORCE ROW LEVEL SECURITY;
CREATE POLICY spying ON oc1 USING (spy());
ALTER POLICY spying ON oc1 TO PUBLIC;
INSERT INTO oc VALUES (1, 1), (1, 1), (1, 2), (1, 2);
SET ROLE cf_part_owner;
TRUNCATE oc1;
RESET ROLE;
SELECT id, n, (SELECT count(*) FROM oc WHERE op_id = op.id) AS truth FROM op;
ALTER TABLE oc DETACH PARTITION oc2;
SELECT id, n, (SELECT count(*) FROM oc WHERE op_id = op.id) AS truth FROM op;
ALTER TABLE oc ATTACH PARTITION oc2 FOR VALUES IN (2);
SET ROLE cf_part_owner;
DROP TABLE oc2;
RESET ROLE;
SELECT id, n, (SELECT count(*) FROM oc WHERE op_id = op.id) AS truth FROM op;
SELECT count(*) AS spied FROM spy_log;
SELECT counterfield.drop_counter('op', 'n');
DROP TABLE oc, op, spy_log;
DROP FUNCTION spy();
DROP ROLE cf_part_owner;

-- Tables that join or leave the tree by other ways: CREATE SCHEMA with a
-- partition in it, DROP SCHEMA ... CASCADE, a table and its partition
-- dropped in one statement, a table that inherits from two parents in the
-- same counted tree, and one dropped with the other parent it inherits from.
CREATE TABLE tp (id int PRIMARY KEY, n int);
CREATE TABLE tc (tp_id int, v int) PARTITION BY LIST (v);
CREATE INDEX ON tc (tp_id);
CREATE TABLE tc1 PARTITION OF tc FOR VALUES IN (1);
INSERT INTO tp VALUES (1);
SELECT counterfield.add_counter('tp', 'n', 'tc', fk_columns => '{tp_id}');
CREATE SCHEMA tsch CREATE TABLE tc3 PARTITION OF public.tc FOR VALUES IN (3);
INSERT INTO tsch.tc3 VALUES (1, 3), (1, 3);
SELECT mismatches('tp', 'n', 'tc', 'tp_id') AS mismatches;
DROP SCHEMA tsch CASCADE;
SELECT mismatches('tp', 'n', 'tc', 'tp_id') AS mismatches;
CREATE TABLE tc4 PARTITION OF tc FOR VALUES IN (4, 5) PARTITION BY LIST (v);
CREATE TABLE tc4a PARTITION OF tc4 FOR VALUES IN (4);
INSERT INTO tc VALUES (1, 4), (1, 4), (1, 1);
DROP TABLE tc4, tc4a;
SELECT id, n, (SELECT count(*) FROM tc WHERE tp_id = tp.id) AS truth FROM tp;
CREATE TABLE ta (tp_id int);
CREATE TABLE ta1 () INHERITS (ta);
ALTER TABLE tp ADD COLUMN n2 int;
SELECT counterfield.add_counter('tp', 'n2', 'ta', fk_columns => '{tp_id}');
CREATE TABLE tz () INHERITS (ta, ta1);
INSERT INTO tz VALUES (1), (1);
ALTER TABLE tz NO INHERIT ta1;
CREATE TABLE ty (tp_id int);
INSERT INTO ty VALUES (1), (1);
ALTER TABLE ty INHERIT ta;
ALTER TABLE ty INHERIT ta1;
SELECT mismatches('tp', 'n2', 'ta', 'tp_id') AS mismatches;
CREATE TABLE other (tp_id int);
CREATE TABLE tx () INHERITS (ta, other);
INSERT INTO tx VALUES (1), (1);
DROP TABLE other CASCADE;
SELECT id, n2, (SELECT count(*) FROM ta WHERE tp_id = tp.id) AS truth FROM tp;
-- a foreign table cannot be put under a counted child
CREATE EXTENSION file_fdw;
CREATE SERVER tfs FOREIGN DATA WRAPPER file_fdw;
CREATE FOREIGN TABLE tf (tp_id int) INHERITS (ta) SERVER tfs OPTIONS (filename '/dev/null');
DROP EXTENSION file_fdw CASCADE;
-- a TRUNCATE of the child that failed does not keep a later TRUNCATE of a
-- partition from counting
CREATE FUNCTION fail_truncate() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN IF current_setting('cf.fail', true) = 'on' THEN RAISE EXCEPTION 'no'; END IF;
       RETURN NULL; END $$;
CREATE TRIGGER zz_fail BEFORE TRUNCATE ON tc FOR EACH STATEMENT EXECUTE FUNCTION fail_truncate();
INSERT INTO tc VALUES (1, 1), (1, 1);
BEGIN;
SET LOCAL cf.fail = on;
SAVEPOINT s;
TRUNCATE tc;
ROLLBACK TO s;
TRUNCATE tc1;
COMMIT;
SELECT id, n, (SELECT count(*) FROM tc WHERE tp_id = tp.id) AS truth FROM tp;
SELECT counterfield.drop_counter('tp', 'n');
SELECT counterfield.drop_counter('tp', 'n2');
DROP TABLE tc, ta, ta1, tz, ty, tp;
DROP FUNCTION fail_truncate();

-- A drop that also takes another counter; an ALTER TABLE with several
-- INHERIT and NO INHERIT subcommands; the owner of the partitioned child
-- detaching another role's partition; a dropped partitioned child keeps
-- its counters' last values.
CREATE TABLE gp (id int PRIMARY KEY, n int);
CREATE TABLE gc (gp_id int, v int) PARTITION BY LIST (v);
CREATE INDEX ON gc (gp_id);
CREATE TABLE gc1 PARTITION OF gc FOR VALUES IN (1);
CREATE SCHEMA gsch
    CREATE TABLE gc2 PARTITION OF public.gc FOR VALUES IN (2)
    CREATE TABLE gp2 (id int PRIMARY KEY, m int);
CREATE TABLE gk (gp2_id int);
CREATE INDEX ON gk (gp2_id);
INSERT INTO gp VALUES (1), (2);
INSERT INTO gsch.gp2 VALUES (1);
SELECT counterfield.add_counter('gp', 'n', 'gc', fk_columns => '{gp_id}');
SELECT counterfield.add_counter('gsch.gp2', 'm', 'gk', fk_columns => '{gp2_id}');
INSERT INTO gc VALUES (1, 1), (1, 2), (2, 2);
DROP SCHEMA gsch CASCADE;
SELECT id, n, (SELECT count(*) FROM gc WHERE gp_id = gp.id) AS truth FROM gp ORDER BY id;
CREATE TABLE gi (gp_id int);
CREATE INDEX ON gi (gp_id);
CREATE TABLE gx (gp_id int);
CREATE TABLE ge (gp_id int);
ALTER TABLE gp ADD COLUMN i int;
SELECT counterfield.add_counter('gp', 'i', 'gi', fk_columns => '{gp_id}');
INSERT INTO ge VALUES (1);
ALTER TABLE ge INHERIT gi, INHERIT gx;
SELECT id, i, (SELECT count(*) FROM gi WHERE gp_id = gp.id) AS truth FROM gp ORDER BY id;
ALTER TABLE ge NO INHERIT gi, NO INHERIT gx, INHERIT gi;
SELECT id, i, (SELECT count(*) FROM gi WHERE gp_id = gp.id) AS truth FROM gp ORDER BY id;
CREATE ROLE cf_gc_owner;
GRANT USAGE, CREATE ON SCHEMA public TO cf_gc_owner;
ALTER TABLE gc OWNER TO cf_gc_owner;
ALTER TABLE gp OWNER TO cf_gc_owner;
INSERT INTO gc1 VALUES (2, 1);
SET ROLE cf_gc_owner;
ALTER TABLE gc DETACH PARTITION gc1;
RESET ROLE;
SELECT id, n, (SELECT count(*) FROM gc WHERE gp_id = gp.id) AS truth FROM gp ORDER BY id;
ALTER TABLE gc ATTACH PARTITION gc1 FOR VALUES IN (1);
SELECT id, n FROM gp ORDER BY id;
DROP TABLE gc;
SELECT id, n FROM gp ORDER BY id;
SELECT counterfield.drop_counter('gp', 'i');
DROP TABLE ge, gx, gi, gp, gk;
REVOKE ALL ON SCHEMA public FROM cf_gc_owner;
DROP ROLE cf_gc_owner;

-- A counted child cannot go under another table, as a partition or by
-- inheritance: rows written through that table would not fire its
-- statement triggers.
CREATE TABLE up (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE uc (id int, up_id int, d int);
SELECT counterfield.add_counter('up', 'n', 'uc', '{up_id}', '{id}');
CREATE TABLE uroot (id int, up_id int, d int) PARTITION BY RANGE (d);
ALTER TABLE uroot ATTACH PARTITION uc FOR VALUES FROM (0) TO (10);
CREATE TABLE ubase (id int, up_id int, d int);
ALTER TABLE uc INHERIT ubase;
INSERT INTO up VALUES (1);
INSERT INTO uc VALUES (1, 1, 1);
SELECT id, n, (SELECT count(*) FROM uc WHERE up_id = up.id) AS truth FROM up;
DROP TABLE uroot, ubase, uc, up;
