-- Parents are updated as their owner: row-level security on the parent,
-- missing privileges and hostile objects in the search path change nothing.
CREATE ROLE cf_owner;
CREATE ROLE cf_writer;
GRANT USAGE, CREATE ON SCHEMA public TO cf_owner;
SET ROLE cf_owner;
CREATE TABLE secret_parent (id int PRIMARY KEY, n int);
CREATE TABLE open_child (id serial PRIMARY KEY, parent_id int REFERENCES secret_parent);
INSERT INTO secret_parent VALUES (1), (2);
ALTER TABLE secret_parent ENABLE ROW LEVEL SECURITY;
ALTER TABLE secret_parent FORCE ROW LEVEL SECURITY;
CREATE POLICY nothing ON secret_parent USING (false);
GRANT SELECT, INSERT, UPDATE, DELETE ON open_child TO cf_writer;
GRANT USAGE ON SEQUENCE open_child_id_seq TO cf_writer;
RESET ROLE;
SELECT counterfield.add_counter('secret_parent', 'n', 'open_child');

-- a hostile operator and function in a schema ahead of pg_catalog's users
CREATE SCHEMA hostile;
GRANT USAGE ON SCHEMA hostile TO PUBLIC;
CREATE FUNCTION hostile.int8pl_evil(int, bigint) RETURNS bigint LANGUAGE sql AS 'SELECT 1000::bigint';
CREATE OPERATOR hostile.+ (LEFTARG = int, RIGHTARG = bigint, FUNCTION = hostile.int8pl_evil);
CREATE FUNCTION hostile.count(int) RETURNS bigint LANGUAGE sql AS 'SELECT 1000::bigint';

SET ROLE cf_writer;
SET search_path = hostile, public;
INSERT INTO open_child (parent_id) VALUES (1), (1), (2);
UPDATE open_child SET parent_id = 2 WHERE id = 1;
DELETE FROM open_child WHERE id = 3;
-- the writer may not even read the parent
SELECT count(*) FROM secret_parent;
RESET search_path;
RESET ROLE;
-- the owner, bypassing the policy, sees exact counts
SET row_security = off;
SELECT id, n, (SELECT count(*) FROM open_child c WHERE c.parent_id = p.id) AS truth
  FROM secret_parent p ORDER BY id;
RESET row_security;

-- A condition written with pg_catalog's operators keeps its meaning under a
-- search_path that puts a hostile schema before pg_catalog: when a new
-- parent is counted, in reinit and in verify.
CREATE TABLE cond_parent (id int PRIMARY KEY, big_n int);
CREATE TABLE cond_child (id serial PRIMARY KEY, parent_id int, size int);
INSERT INTO cond_parent VALUES (1);
SELECT counterfield.add_counter('cond_parent', 'big_n', 'cond_child', fk_columns => '{parent_id}',
                                condition => 'size > 10');
CREATE FUNCTION hostile.always(int, int) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR hostile.> (LEFTARG = int, RIGHTARG = int, FUNCTION = hostile.always);
SET search_path = hostile, pg_catalog, public;
SELECT 1 > 2 AS hostile_operator_wins;
INSERT INTO cond_child (parent_id, size) VALUES (1, 5), (1, 50), (2, 5), (2, 50), (2, 7);
INSERT INTO cond_parent VALUES (2);
SELECT id, big_n FROM cond_parent ORDER BY id;
SET counterfield.enabled = off;
INSERT INTO cond_child (parent_id, size) VALUES (1, 3), (1, 60);
RESET counterfield.enabled;
SELECT * FROM counterfield.verify('cond_parent', 'big_n');
SELECT counterfield.reinit('cond_parent', 'big_n');
SELECT * FROM counterfield.verify('cond_parent', 'big_n');
RESET search_path;
SELECT mismatches('cond_parent', 'big_n', 'cond_child', 'parent_id', cond => 'size > 10');
DROP TABLE cond_child, cond_parent;

SELECT counterfield.drop_counter('secret_parent', 'n');
DROP TABLE open_child, secret_parent;
DROP SCHEMA hostile CASCADE;
REVOKE ALL ON SCHEMA public FROM cf_owner;
DROP ROLE cf_owner;
DROP ROLE cf_writer;
