-- Child rows whose parent row is missing when their statement flushes: the
-- deltas wait for commit, a parent row created meanwhile gets its true
-- count at once, and every value agrees with count(*).
CREATE TABLE mp (id int PRIMARY KEY, n smallint, tn int, note text);
CREATE TABLE mc (id serial PRIMARY KEY, mp_id int);
CREATE INDEX ON mc (mp_id);
SELECT counterfield.add_counter('mp', 'n', 'mc', fk_columns => '{mp_id}', parent_columns => '{id}');
SELECT counterfield.add_counter('mp', 'tn', 'mc', fk_columns => '{mp_id}', parent_columns => '{id}',
                                flush => 'transaction');
CREATE VIEW mp_check AS
  SELECT id, n, tn, (SELECT count(*) FROM mc WHERE mp_id = mp.id) AS truth FROM mp ORDER BY id;

-- the new parent's own INSERT, its RETURNING and its AFTER triggers see
-- the children written before it in the same transaction
CREATE FUNCTION mp_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'after insert of %: n = %', NEW.id, NEW.n;
    RETURN NULL;
END $$;
CREATE TRIGGER mp_seen AFTER INSERT ON mp FOR EACH ROW EXECUTE FUNCTION mp_seen();
BEGIN;
INSERT INTO mc (mp_id) VALUES (1), (1), (1);
SELECT counter_column, parent_key, delta FROM counterfield.tracked_states() ORDER BY 1;
INSERT INTO mp VALUES (1, 0, 0) RETURNING id, n;
SELECT * FROM mp_check;
-- the kept deltas are gone: a later statement counts at once
INSERT INTO mc (mp_id) VALUES (1);
SELECT * FROM mp_check;
COMMIT;
SELECT * FROM mp_check;
DROP TRIGGER mp_seen ON mp;

-- kept deltas larger than the counter's type can hold, which the new row's
-- count makes moot
BEGIN;
INSERT INTO mc (mp_id) SELECT 2 FROM generate_series(1, 33000);
UPDATE mc SET mp_id = 3 WHERE mp_id = 2 AND id % 1000 <> 0;
INSERT INTO mp VALUES (2, 0, 0) RETURNING id, n;
COMMIT;
SELECT * FROM mp_check WHERE id = 2;
DELETE FROM mc WHERE mp_id = 3;

-- a get-or-create INSERT ... ON CONFLICT DO NOTHING that finds the row
-- keeps the deltas: they are applied to the existing row
INSERT INTO mp VALUES (4, 0, 0);
BEGIN;
DELETE FROM mp WHERE id = 4;
INSERT INTO mc (mp_id) VALUES (4), (4);
INSERT INTO mp VALUES (4, 0, 0) ON CONFLICT DO NOTHING;
INSERT INTO mp VALUES (4, 0, 0) ON CONFLICT DO NOTHING;
SELECT * FROM mp_check WHERE id = 4;
COMMIT;
SELECT * FROM mp_check WHERE id = 4;

-- upserts of parent rows that exist: the guard of an INSERT ... ON CONFLICT
-- sees the row of the key and does not count the new one, which the
-- statement throws away; a row of a new key in the same statement is
-- counted, and a row that gets in after all (its key's row deleted by a
-- trigger that fires after the guard) is counted once the statement is
-- done: its RETURNING still shows 0
CREATE TABLE up (id int PRIMARY KEY, title text, n int, tn int, dn int);
CREATE TABLE uc (id serial PRIMARY KEY, up_id int REFERENCES up DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX ON uc (up_id);
SELECT counterfield.add_counter('up', 'n', 'uc');
SELECT counterfield.add_counter('up', 'tn', 'uc', flush => 'transaction');
SELECT counterfield.add_counter('up', 'dn', 'uc', flush => 'deferred');
CREATE VIEW up_check AS
  SELECT p.id, p.title, p.n, p.tn, p.dn + coalesce(u.delta, 0) AS dn,
         (SELECT count(*) FROM uc WHERE uc.up_id = p.id) AS truth
    FROM up p
    LEFT JOIN counterfield.unfolded('up', 'dn') u ON u.parent_key = CAST(ROW(p.id) AS text);
INSERT INTO up VALUES (1, 'a', 0, 0, 0), (2, 'a', 0, 0, 0);
INSERT INTO uc (up_id) SELECT 1 + g % 2 FROM generate_series(1, 30) g;
INSERT INTO up VALUES (1, 'b', 0, 0, 0) ON CONFLICT (id) DO UPDATE SET title = excluded.title
  RETURNING id, title, n, tn;
INSERT INTO up VALUES (1, 'c', 0, 0, 0), (3, 'c', 7, 7, 7) ON CONFLICT DO NOTHING
  RETURNING id, title, n, tn;
INSERT INTO up VALUES (2, 'd', 0, 0, 0);
BEGIN;
INSERT INTO uc (up_id) VALUES (1), (2), (4);
INSERT INTO up VALUES (2, 'e', 0, 0, 0), (4, 'e', 0, 0, 0)
  ON CONFLICT (id) DO UPDATE SET title = excluded.title RETURNING id, title, n, tn;
COMMIT;
CREATE FUNCTION up_replace() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM up WHERE id = NEW.id;
    RETURN NEW;
END $$;
CREATE TRIGGER zzzz_up_replace BEFORE INSERT ON up FOR EACH ROW EXECUTE FUNCTION up_replace();
ALTER TABLE uc DROP CONSTRAINT uc_up_id_fkey;
INSERT INTO up VALUES (1, 'f', 0, 0, 0) ON CONFLICT DO NOTHING RETURNING id, title, n;
DROP TRIGGER zzzz_up_replace ON up;
SELECT * FROM up_check ORDER BY id;
SELECT count(*) FROM counterfield.verify();
SELECT counterfield.drop_counter('up', c) FROM unnest('{n,tn,dn}'::name[]) c;
DROP VIEW up_check;
DROP TABLE uc, up;
DROP FUNCTION up_replace();

-- a trigger that creates a parent row while the commit applies deltas,
-- for a key whose delta found no row (5) and for one still to come (200)
CREATE FUNCTION mp_make() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = 100 THEN
        INSERT INTO mp VALUES (5, 0, 0), (200, 0, 0) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER mp_make AFTER UPDATE ON mp FOR EACH ROW EXECUTE FUNCTION mp_make();
INSERT INTO mp VALUES (100, 0, 0);
BEGIN;
INSERT INTO mc (mp_id) VALUES (5), (100), (200);
COMMIT;
SELECT * FROM mp_check WHERE id IN (5, 100, 200);
DROP TRIGGER mp_make ON mp;

-- keys compared by bytes in the state cache (text, two columns): a kept
-- delta does not hold back the deltas of later statements
CREATE TABLE tp (a text, b int, n int, PRIMARY KEY (a, b));
CREATE TABLE tc (id serial PRIMARY KEY, a text, b int);
SELECT counterfield.add_counter('tp', 'n', 'tc', fk_columns => '{a,b}', parent_columns => '{a,b}');
BEGIN;
INSERT INTO tc (a, b) SELECT 'k', 1 FROM generate_series(1, 10);
INSERT INTO tp VALUES ('k', 1, 0);
INSERT INTO tc (a, b) SELECT 'k', 1 FROM generate_series(1, 10);
SELECT a, b, n, (SELECT count(*) FROM tc WHERE tc.a = tp.a AND tc.b = tp.b) AS truth FROM tp;
COMMIT;
SELECT a, b, n, (SELECT count(*) FROM tc WHERE tc.a = tp.a AND tc.b = tp.b) AS truth FROM tp;

-- the guard's key locks last only while their rows are on their way: none
-- is left once the statement has ended, inside a function too
BEGIN;
INSERT INTO mp VALUES (301, 0, 0), (302, 0, 0), (303, 0, 0);
DO $$ BEGIN INSERT INTO mp VALUES (304, 0, 0); UPDATE mp SET id = 305 WHERE id = 304; END $$;
SELECT count(*) AS guard_locks FROM pg_locks
 WHERE locktype = 'advisory' AND objsubid IN (17222, 17223) AND pid = pg_backend_pid();
-- ... and those of a statement that failed in a savepoint go with it
SAVEPOINT s;
INSERT INTO mp VALUES (306, 0, 0), (306, 0, 0);
ROLLBACK TO s;
SELECT count(*) AS guard_locks FROM pg_locks
 WHERE locktype = 'advisory' AND objsubid IN (17222, 17223) AND pid = pg_backend_pid();
COMMIT;

-- DDL applies pending deltas first, but those of missing keys stay pending,
-- their keys unlocked; the commit (here a PREPARE, whose locks have no pid)
-- locks them then, or, past 64 keys of one parent, the parent's table
BEGIN;
DO $$
BEGIN
    FOR i IN 0..299 LOOP
        INSERT INTO mc (mp_id) SELECT 1000 + i * 10 + g FROM generate_series(1, 10) g;
        ALTER TABLE mp ALTER COLUMN note SET DEFAULT 'x';
    END LOOP;
END $$;
SELECT count(*) AS orphans FROM mc WHERE mp_id >= 1000;
SELECT count(*) AS locks FROM pg_locks
 WHERE locktype = 'advisory' AND objsubid IN (17222, 17223) AND pid = pg_backend_pid();
SELECT count(*) AS pending FROM counterfield.tracked_states() WHERE delta <> 0;
PREPARE TRANSACTION 'cf_missing';
SELECT count(*) FILTER (WHERE l.objsubid = 17223) AS key_locks,
       bool_or(l.objsubid = 17222 AND l.mode = 'ExclusiveLock') AS table_locked
  FROM pg_locks l JOIN pg_database d ON d.oid = l.database
 WHERE d.datname = current_database() AND l.pid IS NULL AND l.locktype = 'advisory'
   AND l.classid = 'mp'::regclass;
COMMIT PREPARED 'cf_missing';
SELECT count(*) AS wrong FROM mp
 WHERE n <> (SELECT count(*) FROM mc WHERE mp_id = mp.id)
    OR tn <> (SELECT count(*) FROM mc WHERE mp_id = mp.id);
DELETE FROM mc WHERE mp_id >= 1000;

-- ... and one whose missing keys span many parent tables locks tables
-- whole past 256 keys in all
DO $$
BEGIN
    FOR t IN 1..8 LOOP
        EXECUTE format('CREATE TABLE many_p%s (id int PRIMARY KEY, n int)', t);
        EXECUTE format('CREATE TABLE many_c%s (id serial, p_id int)', t);
        EXECUTE format('CREATE INDEX ON many_c%s (p_id)', t);
        PERFORM counterfield.add_counter(format('many_p%s', t)::regclass, 'n',
                                         format('many_c%s', t)::regclass,
                                         fk_columns => '{p_id}', parent_columns => '{id}');
    END LOOP;
END $$;
BEGIN;
DO $$
BEGIN
    FOR t IN 1..8 LOOP
        EXECUTE format('INSERT INTO many_c%s (p_id) SELECT g FROM generate_series(1, 50) g', t);
    END LOOP;
END $$;
PREPARE TRANSACTION 'cf_many';
SELECT count(*) FILTER (WHERE l.objsubid = 17223) AS key_locks,
       count(*) FILTER (WHERE l.objsubid = 17222 AND l.mode = 'ExclusiveLock') AS whole_tables
  FROM pg_locks l JOIN pg_database d ON d.oid = l.database
 WHERE d.datname = current_database() AND l.pid IS NULL AND l.locktype = 'advisory';
COMMIT PREPARED 'cf_many';
DO $$
BEGIN
    FOR t IN 1..8 LOOP
        PERFORM counterfield.drop_counter(format('many_p%s', t)::regclass, 'n');
        EXECUTE format('DROP TABLE many_c%s, many_p%s', t, t);
    END LOOP;
END $$;

SELECT * FROM counterfield.verify();
SELECT counterfield.drop_counter('tp', 'n');
SELECT counterfield.drop_counter('mp', 'n');
SELECT counterfield.drop_counter('mp', 'tn');
DROP TABLE tc, tp, mc, mp CASCADE;
DROP FUNCTION mp_seen(), mp_make();
