-- Living with DDL: renames keep counting (definitions are kept by OID and
-- attribute number); dropping a table or a column a counter needs removes
-- the counter and the triggers only it needed.
CREATE TABLE dpar (id int PRIMARY KEY, n int, m int);
CREATE TABLE dchi (id serial PRIMARY KEY, dpar_id int REFERENCES dpar ON DELETE CASCADE,
                   flag bool DEFAULT true);
INSERT INTO dpar VALUES (1), (2);
SELECT counterfield.add_counter('dpar', 'n', 'dchi');
SELECT counterfield.add_counter('dpar', 'm', 'dchi', condition => 'flag');
INSERT INTO dchi (dpar_id) VALUES (1), (1), (2);

-- renames of tables and columns keep counting
ALTER TABLE dpar RENAME TO dparent;
ALTER TABLE dchi RENAME TO dchild;
ALTER TABLE dparent RENAME COLUMN n TO total;
ALTER TABLE dparent RENAME COLUMN id TO pid;
ALTER TABLE dchild RENAME COLUMN dpar_id TO parent_ref;
ALTER TABLE dchild RENAME COLUMN flag TO live;
INSERT INTO dchild (parent_ref) VALUES (2), (2);
UPDATE dchild SET live = false WHERE id = 1;
INSERT INTO dparent VALUES (3);
SELECT parent, counter_column, child, fk_columns, parent_columns, condition FROM counterfield.counters ORDER BY 2;
SELECT mismatches('dparent', 'total', 'dchild', 'parent_ref', 'pid')
     + mismatches('dparent', 'm', 'dchild', 'parent_ref', 'pid', 'live') AS mismatches;
SELECT * FROM counterfield.verify();

-- the repair path: triggers disabled for a while, then verify and reinit
ALTER TABLE dchild DISABLE TRIGGER counterfield_insert;
INSERT INTO dchild (parent_ref) VALUES (1);
ALTER TABLE dchild ENABLE TRIGGER counterfield_insert;
SELECT * FROM counterfield.verify() ORDER BY 2;
SELECT counterfield.reinit('dparent', 'total'), counterfield.reinit('dparent', 'm');
SELECT * FROM counterfield.verify();
-- counterfield.enabled = off pauses counting for a bulk load
SET counterfield.enabled = off;
INSERT INTO dchild (parent_ref) SELECT 1 FROM generate_series(1, 10);
RESET counterfield.enabled;
SELECT count(*) AS drifted FROM counterfield.verify();
SELECT counterfield.reinit('dparent', 'total'), counterfield.reinit('dparent', 'm');
SELECT count(*) AS drifted FROM counterfield.verify();

-- dropping a column the condition uses removes only that counter
ALTER TABLE dchild DROP COLUMN live;
SELECT counter_column FROM counterfield.counters ORDER BY 1;
INSERT INTO dchild (parent_ref) VALUES (1);
SELECT mismatches('dparent', 'total', 'dchild', 'parent_ref', 'pid') AS mismatches;
-- dropping the counter column removes the counter and its triggers
ALTER TABLE dparent DROP COLUMN total;
SELECT count(*) AS counters FROM counterfield.counters;
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgname LIKE '%counterfield%' ORDER BY 1, 2;
INSERT INTO dchild (parent_ref) VALUES (1);
INSERT INTO dparent VALUES (4);
-- dropping the fk column
ALTER TABLE dparent ADD COLUMN total int;
SELECT counterfield.add_counter('dparent', 'total', 'dchild');
ALTER TABLE dchild DROP COLUMN parent_ref;
SELECT count(*) AS counters FROM counterfield.counters;
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgname LIKE '%counterfield%' ORDER BY 1, 2;
-- dropping the child, then the parent
ALTER TABLE dchild ADD COLUMN parent_ref int REFERENCES dparent;
SELECT counterfield.add_counter('dparent', 'total', 'dchild');
DROP TABLE dchild;
SELECT count(*) AS counters FROM counterfield.counters;
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgname LIKE '%counterfield%' ORDER BY 1, 2;
INSERT INTO dparent VALUES (5);
CREATE TABLE dchild (parent_ref int REFERENCES dparent);
SELECT counterfield.add_counter('dparent', 'total', 'dchild');
DROP TABLE dparent CASCADE;
SELECT count(*) AS counters FROM counterfield.counters;
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgname LIKE '%counterfield%' ORDER BY 1, 2;
INSERT INTO dchild VALUES (1);
DROP TABLE dchild;

-- changing the type of a key column leaves the counter unused, not broken;
-- the change that makes the types match again recomputes it
CREATE TABLE kp (id int PRIMARY KEY, n int);
CREATE TABLE kc (kp_id int);
INSERT INTO kp VALUES (1);
SELECT counterfield.add_counter('kp', 'n', 'kc', fk_columns => '{kp_id}');
INSERT INTO kc VALUES (1);
ALTER TABLE kc ALTER COLUMN kp_id TYPE bigint;
INSERT INTO kc VALUES (1);
SELECT * FROM kp;
ALTER TABLE kc ALTER COLUMN kp_id TYPE int;
SELECT * FROM kp;
SELECT counterfield.reinit('kp', 'n');
INSERT INTO kc VALUES (1);
SELECT mismatches('kp', 'n', 'kc', 'kp_id') AS mismatches;
DROP TABLE kc, kp;

-- ALTER COLUMN ... TYPE ... USING rewrites values without firing triggers:
-- the counters whose key or counter column it rewrites are recomputed, on
-- the child, on the parent, on a partitioned child, in any transaction
CREATE TABLE rp (id int PRIMARY KEY, n int, tn int);
CREATE TABLE rc (id serial, rp_id int, other int);
CREATE INDEX ON rc (rp_id);
INSERT INTO rp SELECT g FROM generate_series(1, 4) g;
SELECT counterfield.add_counter('rp', 'n', 'rc', fk_columns => '{rp_id}');
SELECT counterfield.add_counter('rp', 'tn', 'rc', fk_columns => '{rp_id}', flush => 'transaction');
INSERT INTO rc (rp_id) VALUES (1), (1), (2), (3);
ALTER TABLE rc ALTER COLUMN rp_id TYPE int USING rp_id + 1;
SELECT id, n, tn, (SELECT count(*) FROM rc WHERE rc.rp_id = rp.id) AS truth FROM rp ORDER BY id;
ALTER TABLE rp ALTER COLUMN id TYPE int USING 5 - id;
SELECT id, n, tn, (SELECT count(*) FROM rc WHERE rc.rp_id = rp.id) AS truth FROM rp ORDER BY id;
ALTER TABLE rp ALTER COLUMN n TYPE bigint USING n * 10, ALTER COLUMN tn TYPE int USING 0;
SELECT id, n, tn, (SELECT count(*) FROM rc WHERE rc.rp_id = rp.id) AS truth FROM rp ORDER BY id;
BEGIN;
INSERT INTO rc (rp_id) VALUES (4);
ALTER TABLE rc ALTER COLUMN other TYPE bigint, ALTER COLUMN rp_id TYPE int USING 1;
INSERT INTO rc (rp_id) VALUES (2);
COMMIT;
SELECT id, n, tn, (SELECT count(*) FROM rc WHERE rc.rp_id = rp.id) AS truth FROM rp ORDER BY id;
SELECT mismatches('rp', 'n', 'rc', 'rp_id') + mismatches('rp', 'tn', 'rc', 'rp_id') AS mismatches;
DROP TABLE rc;
CREATE TABLE rc (rp_id int, part int) PARTITION BY LIST (part);
CREATE TABLE rc_1 PARTITION OF rc FOR VALUES IN (1);
CREATE TABLE rc_2 PARTITION OF rc FOR VALUES IN (2);
CREATE INDEX ON rc (rp_id);
SELECT counterfield.add_counter('rp', 'n', 'rc', fk_columns => '{rp_id}');
INSERT INTO rc VALUES (1, 1), (2, 1), (2, 2), (3, 2);
ALTER TABLE rc ALTER COLUMN rp_id TYPE int USING rp_id + 1;
SELECT id, n, (SELECT count(*) FROM rc WHERE rc.rp_id = rp.id) AS truth FROM rp ORDER BY id;
SELECT mismatches('rp', 'n', 'rc', 'rp_id') AS mismatches;
DROP TABLE rc, rp;
-- the same when the change recurses from a table above: an inheritance
-- parent of the child, a partitioned table above the parent
CREATE TABLE rp_all (id int, n int) PARTITION BY RANGE (id);
CREATE TABLE rp PARTITION OF rp_all FOR VALUES FROM (0) TO (1000);
ALTER TABLE rp ADD PRIMARY KEY (id);
CREATE TABLE rc_base (rp_id int);
CREATE TABLE rc () INHERITS (rc_base);
CREATE INDEX ON rc (rp_id);
INSERT INTO rp_all VALUES (1, 0), (2, 0), (3, 0);
SELECT counterfield.add_counter('rp', 'n', 'rc', fk_columns => '{rp_id}');
INSERT INTO rc VALUES (1), (1), (2);
ALTER TABLE rc_base ALTER COLUMN rp_id TYPE int USING rp_id + 1;
SELECT id, n, (SELECT count(*) FROM rc WHERE rc.rp_id = rp.id) AS truth FROM rp ORDER BY id;
ALTER TABLE rp_all ALTER COLUMN n TYPE bigint USING n + 10;
SELECT id, n, (SELECT count(*) FROM rc WHERE rc.rp_id = rp.id) AS truth FROM rp ORDER BY id;
SELECT mismatches('rp', 'n', 'rc', 'rp_id') AS mismatches;
DROP TABLE rc, rc_base, rp_all;

-- Counter definitions are loaded again only after changes that concern
-- them: unrelated catalog churn keeps those loaded (DEBUG1 says when they
-- are loaded, by the next statement that needs them).
CREATE TABLE churn_p (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE churn_c (id int PRIMARY KEY, p int REFERENCES churn_p);
CREATE INDEX ON churn_c (p);
INSERT INTO churn_p VALUES (1);
SELECT counterfield.add_counter('churn_p', 'n', 'churn_c');
INSERT INTO churn_c VALUES (1, 1);
CREATE TABLE churn_other (a int);
ALTER TABLE churn_other ADD COLUMN b int;
CREATE FUNCTION churn_f() RETURNS int LANGUAGE sql AS 'SELECT 1';
DROP FUNCTION churn_f();
DROP TABLE churn_other;
SET client_min_messages = debug1;
INSERT INTO churn_c VALUES (2, 1);
RESET client_min_messages;
-- a change to a counted table loads them again
ALTER TABLE churn_c ADD COLUMN note text;
SET client_min_messages = debug1;
INSERT INTO churn_c VALUES (3, 1);
RESET client_min_messages;
SELECT mismatches('churn_p', 'n', 'churn_c', 'p') AS mismatches;
DROP TABLE churn_c, churn_p;

-- ALTER TABLE inside ALTER TABLE: one in a USING expression, and one in a
-- trigger that the outer command's recount fires; each moves its own tables
CREATE TABLE nest_p (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO nest_p SELECT g FROM generate_series(1, 3) g;
CREATE TABLE nest_c (p_id int);
INSERT INTO nest_c VALUES (1);
SELECT counterfield.add_counter('nest_p', 'n', 'nest_c', fk_columns => '{p_id}',
                                parent_columns => '{id}');
CREATE TABLE nest_a (p_id int, extra int);
INSERT INTO nest_a VALUES (1, 0), (2, 0), (2, 0);
CREATE TABLE nest_other (x int);
CREATE FUNCTION nest_alter(int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    ALTER TABLE nest_other ADD COLUMN IF NOT EXISTS y int;
    RETURN $1;
END $$;
SET client_min_messages = warning;
ALTER TABLE nest_a ALTER COLUMN extra TYPE bigint USING nest_alter(extra), INHERIT nest_c;
RESET client_min_messages;
SELECT mismatches('nest_p', 'n', 'nest_c', 'p_id') AS mismatches;
SELECT * FROM counterfield.verify('nest_p');
CREATE TABLE nest_b (p_id int);
CREATE TABLE nest_b1 () INHERITS (nest_b);
INSERT INTO nest_b VALUES (3);
INSERT INTO nest_b1 VALUES (3), (3);
CREATE FUNCTION nest_inherit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = 'nest_b'::regclass) THEN
        ALTER TABLE nest_b INHERIT nest_c;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER nest_inherit AFTER UPDATE ON nest_p
  FOR EACH STATEMENT EXECUTE FUNCTION nest_inherit();
ALTER TABLE nest_a NO INHERIT nest_c;
SELECT mismatches('nest_p', 'n', 'nest_c', 'p_id') AS mismatches;
SELECT id, n FROM nest_p ORDER BY id;
SELECT * FROM counterfield.verify('nest_p');
-- the inner command moves a table of the outer one's tree before the outer
-- one has counted its move
CREATE TABLE nest_a2 () INHERITS (nest_a);
INSERT INTO nest_a2 VALUES (2, 0), (2, 0);
CREATE OR REPLACE FUNCTION nest_alter(int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_inherits WHERE inhrelid = 'nest_a2'::regclass) THEN
        ALTER TABLE nest_a2 NO INHERIT nest_a;
    END IF;
    RETURN $1;
END $$;
ALTER TABLE nest_a ALTER COLUMN extra TYPE int USING nest_alter(extra::int), INHERIT nest_c;
SELECT mismatches('nest_p', 'n', 'nest_c', 'p_id') AS mismatches;
SELECT * FROM counterfield.verify('nest_p');
DROP TABLE nest_a2, nest_b1, nest_b, nest_a, nest_c, nest_p, nest_other;
DROP FUNCTION nest_alter(int), nest_inherit();
