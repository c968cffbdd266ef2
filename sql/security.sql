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

-- Conditions, and everything they call, run as the child's owner in a
-- security-restricted operation, whoever makes counterfield evaluate them:
-- a writer, a superuser inserting a parent, add_counter, reinit, verify,
-- and a backend loading the definitions.  The probe below is a function
-- labelled IMMUTABLE that calls a volatile one, which records who runs it
-- and tries to make its owner a superuser.
CREATE ROLE cf_mallory;
GRANT USAGE, CREATE ON SCHEMA public TO cf_mallory;
CREATE TABLE probe_log (event text, who name, superuser boolean);
GRANT INSERT ON probe_log TO PUBLIC;
SET ROLE cf_mallory;
CREATE FUNCTION probe_note() RETURNS boolean VOLATILE LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.probe_log
    SELECT current_setting('probe.event', true), current_user, rolsuper
      FROM pg_catalog.pg_roles WHERE rolname = current_user;
    BEGIN
        ALTER ROLE cf_mallory SUPERUSER;
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    RETURN true;
END
$$;
CREATE FUNCTION probe(int) RETURNS boolean IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
    RETURN public.probe_note() AND $1 > 0;
END
$$;
CREATE TABLE m_parent (id int PRIMARY KEY, n int, folded int);
CREATE TABLE m_child (id serial PRIMARY KEY, m_parent_id int, size int);
INSERT INTO m_parent VALUES (1), (2);
INSERT INTO m_child (m_parent_id, size) VALUES (1, 1), (1, 0), (2, 3), (3, 4);
GRANT SELECT, INSERT, UPDATE, DELETE ON m_parent, m_child TO PUBLIC;
GRANT USAGE ON SEQUENCE m_child_id_seq TO PUBLIC;
-- a probe with a constant argument is folded when a condition is planned
SELECT counterfield.add_counter('m_parent', 'folded', 'm_child', fk_columns => '{m_parent_id}',
                                condition => 'probe(1) AND size > 0');
RESET ROLE;
TRUNCATE probe_log;
-- a superuser adds a counter on mallory's tables with mallory's function
SET probe.event = 'add_counter';
SELECT counterfield.add_counter('m_parent', 'n', 'm_child', fk_columns => '{m_parent_id}',
                                condition => 'probe(size)');
-- a new session loads the definitions at its first write, folding probe(1)
\c
SET probe.event = 'insert child';
INSERT INTO m_child (m_parent_id, size) VALUES (1, 5), (2, 0);
SET probe.event = 'update child';
UPDATE m_child SET size = size + 1;
SET probe.event = 'insert parent';
INSERT INTO m_parent VALUES (3);
SET probe.event = 'verify';
SELECT * FROM counterfield.verify();
SET probe.event = 'reinit';
SELECT counterfield.reinit('m_parent', 'n');
RESET probe.event;
-- every evaluation ran as mallory, without superuser, and failed to promote
SELECT event, who, superuser FROM probe_log GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT rolsuper FROM pg_roles WHERE rolname = 'cf_mallory';
SELECT mismatches('m_parent', 'n', 'm_child', 'm_parent_id', cond => 'size > 0')
     + mismatches('m_parent', 'folded', 'm_child', 'm_parent_id', cond => 'size > 0') AS mismatches;

-- Under FORCE ROW LEVEL SECURITY the owner's verify and reinit both see
-- every row: a value that drifted is reported and mended.
SET ROLE cf_mallory;
ALTER TABLE m_child ENABLE ROW LEVEL SECURITY;
ALTER TABLE m_child FORCE ROW LEVEL SECURITY;
ALTER TABLE m_parent ENABLE ROW LEVEL SECURITY;
ALTER TABLE m_parent FORCE ROW LEVEL SECURITY;
CREATE POLICY small ON m_child USING (size < 2);
CREATE POLICY first ON m_parent USING (id = 1);
RESET ROLE;
SET counterfield.enabled = off;
INSERT INTO m_child (m_parent_id, size) VALUES (2, 5), (2, 6);
RESET counterfield.enabled;
SET ROLE cf_mallory;
SELECT count(*) AS visible_children FROM m_child;
SELECT * FROM counterfield.verify('m_parent', 'n');
SELECT counterfield.reinit('m_parent', 'n');
SELECT * FROM counterfield.verify('m_parent', 'n');
RESET ROLE;
SELECT mismatches('m_parent', 'n', 'm_child', 'm_parent_id', cond => 'size > 0') AS mismatches;

-- reinit is for the owner of both tables: any other role is refused before
-- anything is written, so a NULL "not yet counted" stays as the owner set it.
UPDATE m_parent SET n = NULL WHERE id = 3;
CREATE ROLE cf_reader;
GRANT SELECT ON m_child TO cf_reader;
SET ROLE cf_reader;
SELECT counterfield.reinit('m_parent', 'n');
SELECT counterfield.drop_counter('m_parent', 'n');
SELECT counterfield.add_counter('m_parent', 'id', 'm_child');
RESET ROLE;
SELECT id, n FROM m_parent WHERE id = 3;

-- verify reports only counters on tables the caller owns or may read
-- without row-level security in the way; others are left out, not an error.
SET counterfield.enabled = off;
INSERT INTO open_child (parent_id) VALUES (1);
RESET counterfield.enabled;
SELECT parent, counter_column, parent_key, stored, actual FROM counterfield.verify();
SET ROLE cf_reader;
-- reads the child only: nothing to report, and no error
SELECT * FROM counterfield.verify();
SELECT * FROM counterfield.verify('m_parent', 'n');
RESET ROLE;
GRANT SELECT ON secret_parent, open_child TO cf_reader;
SET ROLE cf_reader;
-- secret_parent hides its rows from cf_reader by a policy
SELECT * FROM counterfield.verify();
RESET ROLE;
ALTER TABLE secret_parent DISABLE ROW LEVEL SECURITY;
SET ROLE cf_reader;
SELECT * FROM counterfield.verify();
RESET ROLE;
ALTER TABLE secret_parent ENABLE ROW LEVEL SECURITY;
SELECT counterfield.reinit('secret_parent', 'n');

-- A counter between tables of two owners: the child's owner counts and
-- runs the condition, the parent's owner writes.
CREATE ROLE cf_alice;
GRANT USAGE, CREATE ON SCHEMA public TO cf_alice;
SET ROLE cf_alice;
CREATE TABLE a_parent (id int PRIMARY KEY, n int);
INSERT INTO a_parent VALUES (1), (2), (3);
GRANT REFERENCES ON a_parent TO cf_mallory;
RESET ROLE;
SET ROLE cf_mallory;
CREATE TABLE b_child (id serial PRIMARY KEY, a_parent_id int REFERENCES a_parent, size int);
INSERT INTO b_child (a_parent_id, size) VALUES (1, 1), (1, 0), (2, 4);
RESET ROLE;
TRUNCATE probe_log;
SET probe.event = 'two owners';
SELECT counterfield.add_counter('a_parent', 'n', 'b_child', condition => 'probe(size)');
SELECT id, n FROM a_parent ORDER BY id;
SET counterfield.enabled = off;
INSERT INTO b_child (a_parent_id, size) VALUES (3, 2);
RESET counterfield.enabled;
SELECT * FROM counterfield.verify('a_parent', 'n');
SELECT counterfield.reinit('a_parent', 'n');
SET ROLE cf_mallory;
INSERT INTO b_child (a_parent_id, size) VALUES (3, 2);
RESET ROLE;
RESET probe.event;
SELECT event, who, superuser FROM probe_log GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT mismatches('a_parent', 'n', 'b_child', 'a_parent_id', cond => 'size > 0') AS mismatches;
SELECT counterfield.drop_counter('a_parent', 'n');
DROP TABLE b_child, a_parent;

-- Parsing a condition runs the input functions of its literals, and so a
-- domain's CHECK constraint: that too runs as the child's owner, in a
-- security-restricted operation, never as the catalog's owner.
TRUNCATE probe_log;
SET ROLE cf_mallory;
CREATE FUNCTION probe_check(int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RETURN public.probe_note();
END
$$;
CREATE DOMAIN probe_domain AS int CHECK (probe_check(VALUE));
CREATE TABLE d_parent (id int PRIMARY KEY, n int);
CREATE TABLE d_child (id int, d_parent_id int REFERENCES d_parent);
SET probe.event = 'parse';
SELECT counterfield.add_counter('d_parent', 'n', 'd_child',
                                condition => $$'{1}'::probe_domain[] IS NOT NULL$$);
RESET probe.event;
RESET ROLE;
SELECT event, who, superuser FROM probe_log GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT rolsuper FROM pg_roles WHERE rolname = 'cf_mallory';
DROP TABLE d_child, d_parent;
DROP DOMAIN probe_domain;
DROP FUNCTION probe_check(int);

-- A parent's triggers run as its owner when counterfield updates it, in a
-- security-restricted operation: they cannot leave settings or temporary
-- tables behind in the session of the role that wrote the child.
SET ROLE cf_mallory;
CREATE TABLE t_parent (id int PRIMARY KEY, n int);
CREATE FUNCTION t_parent_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'cf_planted, public', false);
    BEGIN
        CREATE TEMP TABLE planted (x int);
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'temporary table refused: %', SQLERRM;
    END;
    RETURN NEW;
END
$$;
CREATE TRIGGER t_parent_after AFTER UPDATE ON t_parent
    FOR EACH ROW EXECUTE FUNCTION t_parent_trigger();
INSERT INTO t_parent VALUES (1);
GRANT REFERENCES ON t_parent TO cf_alice;
RESET ROLE;
SET ROLE cf_alice;
CREATE TABLE t_child (id int, t_parent_id int REFERENCES t_parent);
RESET ROLE;
SELECT counterfield.add_counter('t_parent', 'n', 't_child');
SELECT counterfield.add_counter('t_parent', 'n', 't_child', flush => 'transaction');
SELECT counterfield.drop_counter('t_parent', 'n');
SELECT counterfield.add_counter('t_parent', 'n', 't_child', flush => 'transaction');
INSERT INTO t_child VALUES (1, 1);
SHOW search_path;
SELECT count(*) AS planted FROM pg_class WHERE relname = 'planted';
TRUNCATE t_child;
SHOW search_path;
SELECT id, n, (SELECT count(*) FROM t_child c WHERE c.t_parent_id = p.id) AS truth FROM t_parent p;
DROP TABLE t_child, t_parent;
DROP FUNCTION t_parent_trigger();

-- A parent's triggers run with search_path pg_catalog, the parent's
-- schema, pg_temp, whatever the writer's: a writer's search_path cannot put
-- the writer's functions or tables into the code that runs as the parent's
-- owner, and the triggers still find the objects of their own schema.
CREATE SCHEMA sp_app;
GRANT USAGE, CREATE ON SCHEMA sp_app TO cf_alice;
SET ROLE cf_alice;
CREATE TABLE sp_app.acct (id int PRIMARY KEY, post_count int, touched timestamptz);
CREATE TABLE sp_app.post (id serial PRIMARY KEY, acct_id int REFERENCES sp_app.acct);
CREATE INDEX ON sp_app.post (acct_id);
CREATE TABLE sp_app.audit (acct_id int, path text);
CREATE FUNCTION sp_app.acct_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.touched := now();
    INSERT INTO audit VALUES (NEW.id, current_setting('search_path'));
    RETURN NEW;
END
$$;
INSERT INTO sp_app.acct VALUES (1, 0), (2, 0);
GRANT SELECT, INSERT, DELETE ON sp_app.post TO cf_writer;
GRANT USAGE ON SEQUENCE sp_app.post_id_seq TO cf_writer;
RESET ROLE;
GRANT USAGE ON SCHEMA sp_app TO cf_writer;
SELECT counterfield.add_counter('sp_app.acct', 'post_count', 'sp_app.post');
CREATE FUNCTION hostile.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'planted now() ran as %', current_user;
END
$$;
CREATE TABLE hostile.audit (acct_id int, path text);
GRANT INSERT ON hostile.audit TO PUBLIC;
-- a write before the trigger exists, and one after: the trigger is seen
SET ROLE cf_writer;
SET search_path = hostile, pg_catalog;
INSERT INTO sp_app.post (acct_id) VALUES (2);
RESET ROLE;
CREATE TRIGGER acct_touch BEFORE UPDATE ON sp_app.acct
    FOR EACH ROW EXECUTE FUNCTION sp_app.acct_touch();
SET ROLE cf_writer;
INSERT INTO sp_app.post (acct_id) VALUES (1), (1), (2);
DELETE FROM sp_app.post WHERE id = 4;
RESET search_path;
RESET ROLE;
SET counterfield.enabled = off;
INSERT INTO sp_app.post (acct_id) VALUES (2);
RESET counterfield.enabled;
SET search_path = hostile, pg_catalog;
SELECT counterfield.reinit('sp_app.acct', 'post_count');
RESET search_path;
SELECT acct_id, path, count(*) FROM sp_app.audit GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS planted_rows FROM hostile.audit;
SELECT mismatches('sp_app.acct', 'post_count', 'sp_app.post', 'acct_id');
-- a parent that is a partition: its partition constraint, checked on every
-- update of it, calls the key's function, whose body is read then
SET ROLE cf_alice;
CREATE FUNCTION sp_app.region_key(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT lower($1)';
CREATE TABLE sp_app.acct_all (id int, region text NOT NULL, n int)
    PARTITION BY LIST (sp_app.region_key(region));
CREATE TABLE sp_app.acct_eu PARTITION OF sp_app.acct_all FOR VALUES IN ('eu');
ALTER TABLE sp_app.acct_eu ADD PRIMARY KEY (id);
INSERT INTO sp_app.acct_all VALUES (1, 'EU', 0);
CREATE TABLE sp_app.eu_post (id serial PRIMARY KEY, acct_id int REFERENCES sp_app.acct_eu);
CREATE INDEX ON sp_app.eu_post (acct_id);
GRANT INSERT ON sp_app.eu_post TO cf_writer;
GRANT USAGE ON SEQUENCE sp_app.eu_post_id_seq TO cf_writer;
RESET ROLE;
SELECT counterfield.add_counter('sp_app.acct_eu', 'n', 'sp_app.eu_post');
CREATE FUNCTION hostile.lower(text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'planted lower() ran as %', current_user;
END
$$;
\c
SET ROLE cf_writer;
SET search_path = hostile, pg_catalog;
INSERT INTO sp_app.eu_post (acct_id) VALUES (1), (1);
RESET search_path;
RESET ROLE;
SELECT mismatches('sp_app.acct_eu', 'n', 'sp_app.eu_post', 'acct_id');
-- a parent whose counter is part of a key that another table references
-- with ON UPDATE CASCADE: the cascade runs that table's triggers
SET ROLE cf_alice;
CREATE TABLE sp_app.cp (id int PRIMARY KEY, n int DEFAULT 0, UNIQUE (id, n));
CREATE TABLE sp_app.cc (cp_id int REFERENCES sp_app.cp);
CREATE INDEX ON sp_app.cc (cp_id);
CREATE TABLE sp_app.cp_audit (pid int, cnt int, note text,
    FOREIGN KEY (pid, cnt) REFERENCES sp_app.cp (id, n) ON UPDATE CASCADE);
CREATE FUNCTION sp_app.cp_audit_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.note := lower('Count ' || NEW.cnt);
    RETURN NEW;
END
$$;
CREATE TRIGGER cp_audit_note BEFORE UPDATE ON sp_app.cp_audit
    FOR EACH ROW EXECUTE FUNCTION sp_app.cp_audit_note();
INSERT INTO sp_app.cp VALUES (1, 0);
INSERT INTO sp_app.cp_audit VALUES (1, 0, 'none');
GRANT INSERT ON sp_app.cc TO cf_writer;
RESET ROLE;
SELECT counterfield.add_counter('sp_app.cp', 'n', 'sp_app.cc');
SET ROLE cf_writer;
SET search_path = hostile, pg_catalog;
INSERT INTO sp_app.cc VALUES (1), (1);
RESET search_path;
RESET ROLE;
SELECT * FROM sp_app.cp_audit;
SELECT mismatches('sp_app.cp', 'n', 'sp_app.cc', 'cp_id');
DROP SCHEMA sp_app CASCADE;
DROP FUNCTION hostile.now();
DROP FUNCTION hostile.lower(text);
DROP TABLE hostile.audit;

-- A condition is prepared only for its own counter, as its owner: a
-- function the owner keeps to itself works for every writer, and does not
-- stop other roles' counters, nor verify for a role that may not read it.
SET ROLE cf_mallory;
CREATE FUNCTION private_positive(int) RETURNS boolean IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
    PERFORM public.probe_note();
    RETURN $1 > 0;
END
$$;
REVOKE EXECUTE ON FUNCTION private_positive(int) FROM PUBLIC;
CREATE TABLE pv_parent (id int PRIMARY KEY, n int);
CREATE TABLE pv_child (id int, pv_parent_id int REFERENCES pv_parent, v int);
INSERT INTO pv_parent VALUES (1);
SELECT counterfield.add_counter('pv_parent', 'n', 'pv_child',
                                condition => 'private_positive(1) AND private_positive(v)');
GRANT INSERT ON pv_child TO cf_alice;
RESET ROLE;
SET ROLE cf_alice;
CREATE TABLE own_parent (id int PRIMARY KEY, n int);
CREATE TABLE own_child (own_parent_id int REFERENCES own_parent);
INSERT INTO own_parent VALUES (1);
SELECT counterfield.add_counter('own_parent', 'n', 'own_child');
RESET ROLE;
\c
TRUNCATE probe_log;
SET ROLE cf_alice;
BEGIN;
INSERT INTO own_child VALUES (1);
SELECT * FROM counterfield.verify();
SELECT relation::regclass FROM pg_locks
 WHERE pid = pg_backend_pid() AND relation IN ('pv_parent'::regclass, 'pv_child'::regclass);
COMMIT;
RESET ROLE;
SELECT count(*) AS conditions_run FROM probe_log;
SET ROLE cf_alice;
INSERT INTO pv_child VALUES (1, 1, 5), (2, 1, -5);
RESET ROLE;
SELECT DISTINCT who FROM probe_log;
SELECT mismatches('pv_parent', 'n', 'pv_child', 'pv_parent_id', cond => 'v > 0')
     + mismatches('own_parent', 'n', 'own_child', 'own_parent_id') AS mismatches;
DROP TABLE own_child, own_parent, pv_child, pv_parent;
DROP FUNCTION private_positive(int);

-- The statements that update a parent are planned as its owner too:
-- planning folds constants in the parent's rules and policies.
SET ROLE cf_mallory;
CREATE TABLE rp (id int PRIMARY KEY, n int);
CREATE TABLE rc (rp_id int);
INSERT INTO rp SELECT generate_series(1, 20);
SELECT counterfield.add_counter('rp', 'n', 'rc', fk_columns => '{rp_id}');
CREATE RULE also_probe AS ON UPDATE TO rp DO ALSO SELECT probe(1);
GRANT INSERT ON rc TO PUBLIC;
-- a new parent whose trigger writes its children is counted again
CREATE FUNCTION rp_kids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.rc VALUES (NEW.id), (NEW.id);
    RETURN NEW;
END
$$;
CREATE TRIGGER a_kids BEFORE INSERT ON rp FOR EACH ROW EXECUTE FUNCTION rp_kids();
GRANT INSERT ON rp TO PUBLIC;
RESET ROLE;
TRUNCATE probe_log;
SET probe.event = 'batch';
INSERT INTO rc SELECT generate_series(1, 8);
SET probe.event = 'recount';
INSERT INTO rp VALUES (21);
RESET probe.event;
SELECT event, who, superuser FROM probe_log GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT rolsuper FROM pg_roles WHERE rolname = 'cf_mallory';
SELECT mismatches('rp', 'n', 'rc', 'rp_id') AS mismatches;
DROP TABLE rc, rp;
DROP FUNCTION rp_kids();

-- A REVOKE of a condition's function takes effect at once, also in a
-- session that has already run the condition.
SET ROLE cf_alice;
CREATE FUNCTION alice_positive(int) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT $1 > 0';
GRANT EXECUTE ON FUNCTION alice_positive(int) TO cf_mallory;
RESET ROLE;
SET ROLE cf_mallory;
CREATE TABLE ap (id int PRIMARY KEY, n int);
CREATE TABLE ac (ap_id int, v int);
INSERT INTO ap VALUES (1);
SELECT counterfield.add_counter('ap', 'n', 'ac', fk_columns => '{ap_id}',
                                condition => 'alice_positive(v)');
INSERT INTO ac VALUES (1, 1);
RESET ROLE;
SET ROLE cf_alice;
REVOKE EXECUTE ON FUNCTION alice_positive(int) FROM cf_mallory, PUBLIC;
RESET ROLE;
SET ROLE cf_mallory;
INSERT INTO ac VALUES (1, 2);
RESET ROLE;
SELECT id, n FROM ap;
SET ROLE cf_mallory;
DROP TABLE ac, ap;
RESET ROLE;
DROP FUNCTION alice_positive(int);
DROP TABLE m_child, m_parent;
DROP FUNCTION probe(int), probe_note();
DROP TABLE probe_log;
REVOKE ALL ON SCHEMA public FROM cf_mallory, cf_alice;
DROP ROLE cf_mallory;
DROP ROLE cf_alice;
REVOKE ALL ON secret_parent, open_child FROM cf_reader;
DROP ROLE cf_reader;

SELECT counterfield.drop_counter('secret_parent', 'n');
DROP TABLE open_child, secret_parent;
DROP SCHEMA hostile CASCADE;
REVOKE ALL ON SCHEMA public FROM cf_owner;
DROP ROLE cf_owner;
DROP ROLE cf_writer;
