-- Bad input is refused with a clear error and changes nothing.
CREATE TABLE p (id int PRIMARY KEY, n int, t text, c bigint, m int);
CREATE TABLE ch (id int, p_id int REFERENCES p, p2 int REFERENCES p, t text, v int);
CREATE TABLE nofk (id int, p_id bigint, t text);
CREATE VIEW pv AS SELECT * FROM p;
\set VERBOSITY default

-- unknown tables and columns
SELECT counterfield.add_counter('nosuch', 'n', 'ch');
SELECT counterfield.add_counter('p', 'nosuch', 'ch', fk_columns => '{p_id}');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{nosuch}');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id}', parent_columns => '{nosuch}');
SELECT counterfield.add_counter('pv', 'n', 'ch');
-- wrong column types
SELECT counterfield.add_counter('p', 't', 'ch', fk_columns => '{p_id}');
SELECT counterfield.add_counter('p', 'n', 'nofk', fk_columns => '{p_id}');
SELECT counterfield.add_counter('p', 'n', 'nofk', fk_columns => '{t}', parent_columns => '{id}');
-- no or ambiguous foreign key
SELECT counterfield.add_counter('p', 'n', 'nofk');
SELECT counterfield.add_counter('p', 'n', 'ch');
-- key column mismatches
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id,p2}', parent_columns => '{id}');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{t}', parent_columns => '{t}');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id,p_id}');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{}');
SELECT counterfield.add_counter('p', 'id', 'ch', fk_columns => '{p_id}');
-- invalid flush value
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id}', flush => 'sometimes');
-- conditions that are not valid immutable boolean expressions over the child
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id}', condition => 'v');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id}', condition => 'nosuch > 0');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id}', condition => 'v > random()');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id}', condition => 'now() > ''2020-01-01''');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id}',
                                condition => 'v IN (SELECT id FROM p)');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id}', condition => 'p.n > 0');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id}', condition => 'count(*) > 0');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id}', condition => 'v > 0; DROP TABLE p');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id}', condition => 'true) FROM p WHERE (true');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id}', condition => 'xmin <> ''0''');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id}', condition => '');
-- a self-referencing counter may not count by its own value
SELECT counterfield.add_counter('p', 'n', 'p', fk_columns => '{m}', parent_columns => '{id}', condition => 'n > 0');
-- duplicate counter
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p_id}');
SELECT counterfield.add_counter('p', 'n', 'ch', fk_columns => '{p2}');
-- unknown counter for drop_counter and reinit
SELECT counterfield.drop_counter('p', 'c');
SELECT counterfield.reinit('p', 'c');
SELECT counterfield.drop_counter('p', 'nosuch');
SELECT * FROM counterfield.verify('p', 'c');
-- nothing was changed by the failures
SELECT parent, counter_column, child, fk_columns FROM counterfield.counters;
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgname LIKE '%counterfield%' ORDER BY 1, 2;
-- only owners of both tables may add or drop counters
CREATE ROLE counterfield_stranger;
SET ROLE counterfield_stranger;
SELECT counterfield.add_counter('p', 'c', 'ch', fk_columns => '{p_id}');
SELECT counterfield.drop_counter('p', 'n');
-- but a role that may only write the child still keeps counts exact
RESET ROLE;
GRANT SELECT, INSERT, UPDATE, DELETE ON ch TO counterfield_stranger;
INSERT INTO p VALUES (1), (2);
SET ROLE counterfield_stranger;
INSERT INTO ch (p_id) VALUES (1), (1), (2);
UPDATE ch SET p_id = 2 WHERE p_id = 1 AND ctid = (SELECT min(ctid) FROM ch WHERE p_id = 1);
RESET ROLE;
SELECT id, n FROM p ORDER BY id;
SELECT mismatches('p', 'n', 'ch', 'p_id');
DELETE FROM ch;
DELETE FROM p;
REVOKE ALL ON ch FROM counterfield_stranger;
DROP ROLE counterfield_stranger;
-- the trigger functions refuse to run anywhere else
SELECT counterfield.child_trigger();
CREATE TRIGGER wrong BEFORE INSERT ON nofk FOR EACH ROW EXECUTE FUNCTION counterfield.child_trigger();
INSERT INTO nofk VALUES (1, 1, 'x');
DROP TRIGGER wrong ON nofk;
CREATE TRIGGER wrong AFTER INSERT ON nofk FOR EACH ROW EXECUTE FUNCTION counterfield.parent_trigger();
INSERT INTO nofk VALUES (1, 1, 'x');
DROP TRIGGER wrong ON nofk;
-- smallint counters refuse to wrap
CREATE TABLE small (id int PRIMARY KEY, n smallint);
CREATE TABLE item (small_id int REFERENCES small);
INSERT INTO small VALUES (1, NULL);
SELECT counterfield.add_counter('small', 'n', 'item');
INSERT INTO item SELECT 1 FROM generate_series(1, 32767);
INSERT INTO item VALUES (1);
SELECT n, (SELECT count(*) FROM item) AS truth FROM small;
SELECT counterfield.has_tracked_states();
DROP TABLE item, small;
SELECT counterfield.drop_counter('p', 'n');
DROP VIEW pv;
DROP TABLE ch, nofk, p;
-- generated columns can be neither counter nor parent key: a new parent row
-- is counted before they are computed
CREATE TABLE gen_parent (x int, id int GENERATED ALWAYS AS (x * 10) STORED UNIQUE, n int,
                         g int GENERATED ALWAYS AS (x + 1) STORED);
CREATE TABLE gen_child (id serial PRIMARY KEY, gen_parent_id int);
SELECT counterfield.add_counter('gen_parent', 'n', 'gen_child', fk_columns => '{gen_parent_id}',
                                parent_columns => '{id}');
SELECT counterfield.add_counter('gen_parent', 'g', 'gen_child', fk_columns => '{gen_parent_id}',
                                parent_columns => '{x}');
DROP TABLE gen_child, gen_parent;
-- nor in a partition of the parent, whether there before add_counter or
-- attached after
CREATE TABLE gen_parent (id int NOT NULL, x int, n int NOT NULL DEFAULT 0) PARTITION BY LIST (id);
CREATE UNIQUE INDEX ON gen_parent (id);
CREATE TABLE gen_parent_1 PARTITION OF gen_parent FOR VALUES IN (1);
CREATE TABLE gen_parent_2 (id int NOT NULL GENERATED ALWAYS AS (x + 1) STORED, x int,
                           n int NOT NULL DEFAULT 0);
CREATE TABLE gen_child (id serial PRIMARY KEY, gen_parent_id int);
CREATE INDEX ON gen_child (gen_parent_id);
ALTER TABLE gen_parent ATTACH PARTITION gen_parent_2 FOR VALUES IN (2, NULL);
SELECT counterfield.add_counter('gen_parent', 'n', 'gen_child', fk_columns => '{gen_parent_id}',
                                parent_columns => '{id}');
ALTER TABLE gen_parent DETACH PARTITION gen_parent_2;
SELECT counterfield.add_counter('gen_parent', 'n', 'gen_child', fk_columns => '{gen_parent_id}',
                                parent_columns => '{id}');
ALTER TABLE gen_parent ATTACH PARTITION gen_parent_2 FOR VALUES IN (2, NULL);
CREATE TABLE gen_parent_3 (id int NOT NULL, x int, n int NOT NULL DEFAULT 0)
    PARTITION BY LIST (id);
CREATE TABLE gen_parent_3a (id int NOT NULL GENERATED ALWAYS AS (x) STORED, x int,
                            n int NOT NULL DEFAULT 0);
ALTER TABLE gen_parent_3 ATTACH PARTITION gen_parent_3a FOR VALUES IN (3);
ALTER TABLE gen_parent ATTACH PARTITION gen_parent_3 FOR VALUES IN (3);
INSERT INTO gen_child (gen_parent_id) VALUES (1), (2), (2);
INSERT INTO gen_parent (id) VALUES (1);
SELECT p.tableoid::regclass, p.id, p.n,
       (SELECT count(*) FROM gen_child c WHERE c.gen_parent_id = p.id) AS truth
FROM gen_parent p;
DROP TABLE gen_child, gen_parent, gen_parent_2, gen_parent_3;
-- nor may a partition of the parent be a foreign table, which PostgreSQL
-- allows once the parent's unique index is gone: counterfield's commit
-- could not update its rows
CREATE FOREIGN DATA WRAPPER cf_no_fdw;
CREATE SERVER cf_nowhere FOREIGN DATA WRAPPER cf_no_fdw;
CREATE TABLE gen_parent (id int NOT NULL, n int NOT NULL DEFAULT 0) PARTITION BY LIST (id);
CREATE UNIQUE INDEX gen_parent_id ON gen_parent (id);
CREATE TABLE gen_child (gen_parent_id int);
CREATE INDEX ON gen_child (gen_parent_id);
SELECT counterfield.add_counter('gen_parent', 'n', 'gen_child', fk_columns => '{gen_parent_id}',
                                parent_columns => '{id}');
DROP INDEX gen_parent_id;
CREATE FOREIGN TABLE gen_parent_f PARTITION OF gen_parent FOR VALUES IN (7) SERVER cf_nowhere;
CREATE FOREIGN TABLE gen_parent_f (id int NOT NULL, n int NOT NULL DEFAULT 0) SERVER cf_nowhere;
ALTER TABLE gen_parent ATTACH PARTITION gen_parent_f FOR VALUES IN (7);
DROP TABLE gen_child, gen_parent;
DROP FOREIGN TABLE gen_parent_f;
DROP SERVER cf_nowhere;
DROP FOREIGN DATA WRAPPER cf_no_fdw;
