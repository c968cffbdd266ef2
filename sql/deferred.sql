-- Deferred counters: writers record deltas, fold() applies them; the value
-- is the column plus the unfolded deltas, checked against count(*).
CREATE FUNCTION deferred_mismatches(parent regclass, counter text, child regclass, fk text,
                                    cond text DEFAULT 'true')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %1$s p'
                   ' LEFT JOIN counterfield.unfolded(%2$L, %3$L) u'
                   '   ON u.parent_key = CAST(ROW(p.id) AS text)'
                   ' WHERE p.%3$I + COALESCE(u.delta, 0) IS DISTINCT FROM'
                   '       (SELECT count(*) FROM %4$s c WHERE c.%5$I = p.id AND (%6$s))',
                   parent, parent, counter, child, fk, cond) INTO n;
    RETURN n;
END
$$;

CREATE TABLE df_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, big_n int DEFAULT 0,
                        title text);
CREATE TABLE df_child (id serial PRIMARY KEY,
                       df_parent_id int REFERENCES df_parent ON DELETE CASCADE,
                       size int DEFAULT 1);
CREATE INDEX ON df_child (df_parent_id);
INSERT INTO df_parent (id) SELECT g FROM generate_series(1, 6) g;
INSERT INTO df_child (df_parent_id) VALUES (1), (1), (2);
SELECT counterfield.add_counter('df_parent', 'n', 'df_child', flush => 'deferred');
SELECT counterfield.add_counter('df_parent', 'big_n', 'df_child', condition => 'size > 1',
                                flush => 'deferred');
SELECT parent, counter_column, flush FROM counterfield.counters WHERE parent = 'df_parent'::regclass;
-- add_counter initializes the column
SELECT id, n, big_n FROM df_parent ORDER BY id;

-- writers never update the parent row
CREATE TRIGGER note_update AFTER UPDATE ON df_parent FOR EACH ROW EXECUTE FUNCTION note_update();
DELETE FROM parent_updates;
INSERT INTO df_child (df_parent_id, size) VALUES (1, 2), (3, 1), (3, 5);
COPY df_child (df_parent_id, size) FROM stdin;
4	1
4	3
\.
INSERT INTO df_child (id, df_parent_id) VALUES (1, 5) ON CONFLICT (id) DO UPDATE SET df_parent_id = 5;
INSERT INTO df_child (id, df_parent_id) VALUES (2, 5) ON CONFLICT DO NOTHING;
MERGE INTO df_child c USING (VALUES (3, 6)) v(id, pid) ON c.id = v.id
  WHEN MATCHED THEN UPDATE SET df_parent_id = v.pid;
UPDATE df_child SET size = 7 WHERE df_parent_id = 3;
UPDATE df_child SET df_parent_id = NULL WHERE id = 2;
DELETE FROM df_child WHERE df_parent_id = 4 AND size = 1;
SELECT * FROM parent_updates;
SELECT id, n, big_n FROM df_parent ORDER BY id;
SELECT * FROM counterfield.unfolded('df_parent') ORDER BY counter_column, parent_key;
SELECT deferred_mismatches('df_parent', 'n', 'df_child', 'df_parent_id')
     + deferred_mismatches('df_parent', 'big_n', 'df_child', 'df_parent_id', 'size > 1')
       AS mismatches;
-- verify counts unfolded deltas as part of the stored value
SELECT * FROM counterfield.verify('df_parent');

-- a rolled-back savepoint takes its deltas with it
BEGIN;
INSERT INTO df_child (df_parent_id) VALUES (6);
SAVEPOINT s;
INSERT INTO df_child (df_parent_id) VALUES (6), (6);
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT * FROM counterfield.unfolded('df_parent', 'n') WHERE parent_key = '(6)';

-- writes of one transaction share the ledger, kept open until it commits;
-- a savepoint that wrote first and rolled back lets go of it and its lock,
-- one that was released hands over nothing open, and DDL finds it closed
BEGIN;
SAVEPOINT s;
INSERT INTO df_child (df_parent_id) VALUES (6);
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS ledger_locks FROM pg_locks
 WHERE pid = pg_backend_pid() AND relation IN ('counterfield.ledger'::regclass, 'counterfield.ledger_key'::regclass);
SAVEPOINT t;
INSERT INTO df_child (df_parent_id) VALUES (6);
RELEASE SAVEPOINT t;
INSERT INTO df_child (df_parent_id) VALUES (6);
DO $$BEGIN
    BEGIN
        INSERT INTO df_child (df_parent_id) VALUES (6);
        RAISE EXCEPTION 'undone';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    INSERT INTO df_child (df_parent_id) VALUES (6);
END$$;
CREATE INDEX df_child_size ON df_child (size);
INSERT INTO df_child (df_parent_id) VALUES (6);
DROP INDEX df_child_size;
COMMIT;
SELECT * FROM counterfield.unfolded('df_parent', 'n') WHERE parent_key = '(6)';

-- fold: one UPDATE per parent row, both counters at once; the ledger empties
SELECT counterfield.fold('df_parent');
SELECT * FROM parent_updates;
SELECT id, n, big_n FROM df_parent ORDER BY id;
SELECT count(*) AS ledger_rows FROM counterfield.ledger;
SELECT mismatches('df_parent', 'n', 'df_child', 'df_parent_id')
     + mismatches('df_parent', 'big_n', 'df_child', 'df_parent_id', cond => 'size > 1')
       AS mismatches;
SELECT * FROM counterfield.verify('df_parent');
-- nothing left to fold
SELECT counterfield.fold('df_parent', 'n');

-- a transaction records its deltas at commit, one ledger row per key and
-- counter however many of its statements wrote them
BEGIN;
INSERT INTO df_child (df_parent_id) VALUES (5);
INSERT INTO df_child (df_parent_id, size) VALUES (5, 2), (5, 1);
INSERT INTO df_child (df_parent_id) VALUES (6);
UPDATE df_child SET size = 3 WHERE id = (SELECT max(id) FROM df_child);
SELECT count(*) AS ledger_rows FROM counterfield.ledger;
COMMIT;
SELECT c.counter_column, l.key, l.delta
  FROM counterfield.ledger l JOIN counterfield.counter c ON c.id = l.counter_id
 ORDER BY 1, 2;
-- a statement that is its own transaction records its deltas at its end
INSERT INTO df_child (df_parent_id) VALUES (5);
SELECT c.counter_column, l.key, l.delta
  FROM counterfield.ledger l JOIN counterfield.counter c ON c.id = l.counter_id
 ORDER BY 1, 2, 3;
SELECT deferred_mismatches('df_parent', 'n', 'df_child', 'df_parent_id')
     + deferred_mismatches('df_parent', 'big_n', 'df_child', 'df_parent_id', 'size > 1')
       AS mismatches;

-- until then unfolded(), verify() and fold() in the transaction count them
-- in, and a savepoint rolled back after them takes back only its own
BEGIN;
INSERT INTO df_child (df_parent_id, size) VALUES (6, 2);
SELECT * FROM counterfield.unfolded('df_parent') ORDER BY counter_column, parent_key;
SELECT * FROM counterfield.verify('df_parent');
INSERT INTO df_child (df_parent_id) VALUES (6);
SAVEPOINT s;
INSERT INTO df_child (df_parent_id) VALUES (5);
SELECT counterfield.fold('df_parent');
SELECT id, n, big_n FROM df_parent WHERE id IN (5, 6) ORDER BY id;
ROLLBACK TO SAVEPOINT s;
SELECT id, n, big_n FROM df_parent WHERE id IN (5, 6) ORDER BY id;
SELECT * FROM counterfield.unfolded('df_parent') ORDER BY counter_column, parent_key;
SELECT deferred_mismatches('df_parent', 'n', 'df_child', 'df_parent_id')
     + deferred_mismatches('df_parent', 'big_n', 'df_child', 'df_parent_id', 'size > 1')
       AS mismatches;
COMMIT;
SELECT * FROM counterfield.unfolded('df_parent') ORDER BY counter_column, parent_key;
SELECT deferred_mismatches('df_parent', 'n', 'df_child', 'df_parent_id')
     + deferred_mismatches('df_parent', 'big_n', 'df_child', 'df_parent_id', 'size > 1')
       AS mismatches;
SELECT * FROM counterfield.verify('df_parent');

-- a cascade from the parent: the deleted parent's deltas are dropped at fold
DELETE FROM df_parent WHERE id = 6;
INSERT INTO df_child (df_parent_id) VALUES (5);
SELECT counterfield.fold();
SELECT count(*) AS ledger_rows FROM counterfield.ledger;
SELECT mismatches('df_parent', 'n', 'df_child', 'df_parent_id') AS mismatches;
DROP TRIGGER note_update ON df_parent;

-- TRUNCATE of the child is recorded like any other write, with the
-- transaction's own deltas before it
INSERT INTO df_child (df_parent_id) VALUES (1), (2);
BEGIN;
INSERT INTO df_child (df_parent_id, size) VALUES (1, 2), (3, 2);
TRUNCATE df_child;
INSERT INTO df_child (df_parent_id) VALUES (2);
COMMIT;
SELECT id, n, big_n FROM df_parent ORDER BY id;
SELECT deferred_mismatches('df_parent', 'n', 'df_child', 'df_parent_id')
     + deferred_mismatches('df_parent', 'big_n', 'df_child', 'df_parent_id', 'size > 1')
       AS mismatches;
SELECT counterfield.fold('df_parent');
SELECT id, n, big_n FROM df_parent ORDER BY id;

-- reinit discards unfolded deltas, since it recomputes
INSERT INTO df_child (df_parent_id) VALUES (1), (1), (2);
SELECT counterfield.reinit('df_parent', 'n');
SELECT * FROM counterfield.unfolded('df_parent') ORDER BY counter_column, parent_key;
SELECT id, n, big_n FROM df_parent ORDER BY id;
-- drop_counter folds first: the column keeps its exact value
INSERT INTO df_child (df_parent_id) VALUES (3);
SELECT counterfield.drop_counter('df_parent', 'n');
SELECT counterfield.drop_counter('df_parent', 'big_n');
SELECT count(*) AS ledger_rows FROM counterfield.ledger;
SELECT mismatches('df_parent', 'n', 'df_child', 'df_parent_id') AS mismatches;
DROP TABLE df_child, df_parent;

-- No foreign key: children of a key before its parent, new parents, re-keyed
-- parents, deleted and re-inserted ones.
CREATE TABLE dn_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE dn_child (id serial PRIMARY KEY, pid int);
CREATE INDEX ON dn_child (pid);
SELECT counterfield.add_counter('dn_parent', 'n', 'dn_child', fk_columns => '{pid}',
                                parent_columns => '{id}', flush => 'deferred');
INSERT INTO dn_child (pid) VALUES (1), (1), (2), (3);
-- a new parent counts its children less the deltas still to be folded in
INSERT INTO dn_parent VALUES (1, 99), (2, 99);
SELECT * FROM dn_parent ORDER BY id;
SELECT deferred_mismatches('dn_parent', 'n', 'dn_child', 'pid') AS mismatches;
SELECT counterfield.fold('dn_parent');
SELECT * FROM dn_parent ORDER BY id;
-- the deltas of key 3, which has no parent, were dropped
SELECT count(*) AS ledger_rows FROM counterfield.ledger;
INSERT INTO dn_parent VALUES (3);
INSERT INTO dn_child (pid) VALUES (3), (4);
UPDATE dn_parent SET id = 4 WHERE id = 3;
SELECT deferred_mismatches('dn_parent', 'n', 'dn_child', 'pid') AS mismatches;
DELETE FROM dn_parent WHERE id = 1;
INSERT INTO dn_child (pid) VALUES (1);
INSERT INTO dn_parent VALUES (1);
SELECT deferred_mismatches('dn_parent', 'n', 'dn_child', 'pid') AS mismatches;
-- a parent created in the transaction that wrote its children: its count
-- leaves out their deltas, recorded at commit
BEGIN;
INSERT INTO dn_child (pid) VALUES (5), (5), (1);
INSERT INTO dn_parent VALUES (5, 99);
UPDATE dn_parent SET id = 6 WHERE id = 4;
INSERT INTO dn_child (pid) VALUES (6), (5);
SELECT * FROM dn_parent ORDER BY id;
SELECT deferred_mismatches('dn_parent', 'n', 'dn_child', 'pid') AS mismatches;
COMMIT;
SELECT deferred_mismatches('dn_parent', 'n', 'dn_child', 'pid') AS mismatches;
SELECT counterfield.fold('dn_parent');
SELECT * FROM dn_parent ORDER BY id;
SELECT mismatches('dn_parent', 'n', 'dn_child', 'pid') AS mismatches;
-- a trigger on the child that creates the parent ("get or create")
CREATE FUNCTION dn_get_or_create() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dn_parent (id) VALUES (NEW.pid) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER get_or_create AFTER INSERT ON dn_child
    FOR EACH ROW EXECUTE FUNCTION dn_get_or_create();
INSERT INTO dn_child (pid) VALUES (7), (7), (8);
SELECT deferred_mismatches('dn_parent', 'n', 'dn_child', 'pid') AS mismatches;
SELECT counterfield.fold('dn_parent');
SELECT * FROM dn_parent ORDER BY id;
SELECT mismatches('dn_parent', 'n', 'dn_child', 'pid') AS mismatches;
DROP TABLE dn_child, dn_parent;
DROP FUNCTION dn_get_or_create();

-- Keys compare as their type compares them, whatever the output settings.
CREATE TABLE dk_parent (k numeric PRIMARY KEY, d date, n int NOT NULL DEFAULT 0,
                        UNIQUE (d));
CREATE TABLE dk_child (id serial PRIMARY KEY, k numeric, d date);
SELECT counterfield.add_counter('dk_parent', 'n', 'dk_child', fk_columns => '{k}',
                                parent_columns => '{k}', flush => 'deferred');
INSERT INTO dk_child (k) VALUES (1.0), (1.00), (2);
INSERT INTO dk_parent (k) VALUES (1), (2);
SELECT * FROM counterfield.unfolded('dk_parent') ORDER BY parent_key;
INSERT INTO dk_child (k) VALUES (1.000);
-- unfolded() spells a key as its parent row does: the exact value joins
SELECT p.k, p.n + COALESCE(u.delta, 0) AS exact,
       (SELECT count(*) FROM dk_child c WHERE c.k = p.k) AS truth
  FROM dk_parent p
  LEFT JOIN counterfield.unfolded('dk_parent', 'n') u ON u.parent_key = CAST(ROW(p.k) AS text)
 ORDER BY p.k;
SELECT counterfield.fold('dk_parent');
SELECT k, n FROM dk_parent ORDER BY k;
ALTER TABLE dk_parent ADD COLUMN dn int NOT NULL DEFAULT 0;
SELECT counterfield.add_counter('dk_parent', 'dn', 'dk_child', fk_columns => '{d}',
                                parent_columns => '{d}', flush => 'deferred');
SET DateStyle = 'SQL, DMY';
INSERT INTO dk_parent (k, d) VALUES (3, '2026-02-01');
INSERT INTO dk_child (d) VALUES ('2026-02-01'), ('2026-02-01');
SET DateStyle = 'German';
SELECT * FROM counterfield.unfolded('dk_parent', 'dn');
SELECT counterfield.fold('dk_parent', 'dn');
RESET DateStyle;
SELECT k, d, dn FROM dk_parent WHERE d IS NOT NULL;
DROP TABLE dk_child, dk_parent;

-- Who may fold and read deltas: the parent's owner, and those who may read.
CREATE ROLE df_owner;
CREATE ROLE df_other;
GRANT CREATE ON SCHEMA public TO df_owner;
SET ROLE df_owner;
CREATE TABLE dp_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE dp_child (id serial PRIMARY KEY, pid int REFERENCES dp_parent);
SELECT counterfield.add_counter('dp_parent', 'n', 'dp_child', flush => 'deferred');
INSERT INTO dp_parent VALUES (1);
INSERT INTO dp_child (pid) VALUES (1);
SET ROLE df_other;
SELECT counterfield.fold('dp_parent');
SELECT counterfield.fold();
SELECT * FROM counterfield.unfolded('dp_parent');
SELECT * FROM counterfield.unfolded();
SELECT * FROM counterfield.ledger;
SET ROLE df_owner;
SELECT * FROM counterfield.unfolded();
SELECT counterfield.fold();
RESET ROLE;
DROP TABLE dp_child, dp_parent;
REVOKE CREATE ON SCHEMA public FROM df_owner;
DROP ROLE df_owner, df_other;

-- Key text is read and written as the parent's owner, never as the caller
-- (a superuser who folds, the background worker): a domain's CHECK is the
-- owner's code.  Names of regclass keys are written and read by one
-- search_path, whatever the writer's.
CREATE ROLE df_owner;
GRANT CREATE ON SCHEMA public TO df_owner;
CREATE TABLE dd_seen (who name);
GRANT INSERT ON dd_seen TO df_owner;
SET ROLE df_owner;
CREATE FUNCTION dd_check(int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.dd_seen VALUES (current_user);
    RETURN true;
END $$;
CREATE DOMAIN dd_key AS int CHECK (dd_check(VALUE));
CREATE TABLE dd_parent (id dd_key PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE dd_child (id serial PRIMARY KEY, pid dd_key REFERENCES dd_parent);
SELECT counterfield.add_counter('dd_parent', 'n', 'dd_child', flush => 'deferred');
INSERT INTO dd_parent VALUES (1);
INSERT INTO dd_child (pid) VALUES (1), (1);
RESET ROLE;
DELETE FROM dd_seen;
SELECT counterfield.fold('dd_parent');
SELECT DISTINCT who FROM dd_seen;
SELECT * FROM dd_parent;
DROP TABLE dd_child, dd_parent;
DROP DOMAIN dd_key;
DROP FUNCTION dd_check(int);
DROP TABLE dd_seen;
REVOKE CREATE ON SCHEMA public FROM df_owner;
DROP ROLE df_owner;
CREATE SCHEMA dr;
CREATE TABLE dr.t ();
CREATE TABLE public.t ();
CREATE TABLE dr_parent (k regclass PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE dr_child (id serial PRIMARY KEY, k regclass REFERENCES dr_parent);
SELECT counterfield.add_counter('dr_parent', 'n', 'dr_child', flush => 'deferred');
INSERT INTO dr_parent VALUES ('dr.t'), ('public.t');
SET search_path = dr, public;
INSERT INTO dr_child (k) VALUES ('dr.t');
RESET search_path;
SELECT * FROM counterfield.unfolded('dr_parent');
SELECT counterfield.fold('dr_parent');
SELECT * FROM dr_parent ORDER BY n;
SELECT * FROM counterfield.verify('dr_parent');
DROP TABLE dr_child, dr_parent, dr.t, public.t;
DROP SCHEMA dr;
-- A key of a type with no array type (an array) is refused.
CREATE TABLE da_parent (k int[] PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE da_child (id serial PRIMARY KEY, k int[] REFERENCES da_parent);
SELECT counterfield.add_counter('da_parent', 'n', 'da_child', flush => 'deferred');
DROP TABLE da_child, da_parent;

-- TRUNCATE of the child takes back the counts of the parent's own rows, not
-- those of tables that inherit from it, which are not its rows.
CREATE TABLE di_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE di_archive (note text) INHERITS (di_parent);
CREATE TABLE di_child (id serial PRIMARY KEY, pid int REFERENCES di_parent);
INSERT INTO di_parent VALUES (1);
INSERT INTO di_archive VALUES (1, 50, 'old'), (2, 7, 'x');
SELECT counterfield.add_counter('di_parent', 'n', 'di_child', flush => 'deferred');
INSERT INTO di_child (pid) VALUES (1), (1);
SELECT counterfield.fold('di_parent');
TRUNCATE di_child;
SELECT * FROM counterfield.unfolded('di_parent');
SELECT counterfield.fold('di_parent');
SELECT id, n FROM ONLY di_parent;
SELECT id, n FROM di_archive ORDER BY id;
DROP TABLE di_child, di_archive, di_parent;

-- Keys whose hashes hash OIDs (enums, OID types), which a restore changes,
-- are kept in the ledger without a hash, and found by their values.
CREATE TYPE de_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE de_parent (id de_mood PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE de_child (id serial PRIMARY KEY, pid de_mood);
SELECT counterfield.add_counter('de_parent', 'n', 'de_child', fk_columns => '{pid}',
                                parent_columns => '{id}', flush => 'deferred');
INSERT INTO de_parent VALUES ('sad');
INSERT INTO de_child (pid) VALUES ('sad'), ('happy'), ('happy');
SELECT DISTINCT key_hash FROM counterfield.ledger;
INSERT INTO de_parent VALUES ('happy');
SELECT counterfield.fold('de_parent');
SELECT id, n, (SELECT count(*) FROM de_child c WHERE c.pid = p.id) AS truth
  FROM de_parent p ORDER BY id;
-- renaming a value of the key's enum folds first: the text of its old
-- name would no longer read back
INSERT INTO de_child (pid) VALUES ('happy');
ALTER TYPE de_mood RENAME VALUE 'happy' TO 'glad';
SELECT * FROM counterfield.unfolded('de_parent');
SELECT id, n, (SELECT count(*) FROM de_child c WHERE c.pid = p.id) AS truth
  FROM de_parent p ORDER BY id;
DROP TABLE de_child, de_parent;
DROP TYPE de_mood;

-- DDL that drops a counter with its table or column folds its deltas
-- first: the column keeps its exact value.
CREATE TABLE dc_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, h int NOT NULL DEFAULT 0,
                        t int NOT NULL DEFAULT 0);
CREATE TABLE dc_child (id serial PRIMARY KEY, pid int REFERENCES dc_parent, w int);
CREATE TABLE dc_other (id serial PRIMARY KEY, pid int REFERENCES dc_parent);
SELECT counterfield.add_counter('dc_parent', 'n', 'dc_child', flush => 'deferred');
SELECT counterfield.add_counter('dc_parent', 'h', 'dc_child', condition => 'w > 1',
                                flush => 'deferred');
SELECT counterfield.add_counter('dc_parent', 't', 'dc_other', flush => 'deferred');
INSERT INTO dc_parent VALUES (1), (2);
INSERT INTO dc_child (pid, w) VALUES (1, 1), (1, 2), (2, 3);
INSERT INTO dc_other (pid) VALUES (1), (2), (2);
ALTER TABLE dc_other ADD COLUMN junk int;
ALTER TABLE dc_other DROP COLUMN junk;
-- a column no counter uses: nothing is folded
SELECT count(*) FROM counterfield.unfolded('dc_parent', 't');
ALTER TABLE dc_child DROP COLUMN w;
SELECT count(*) AS counters FROM counterfield.counter WHERE parent = 'dc_parent'::regclass;
-- h, whose condition used the column, is folded; n, which it did not use, not
SELECT p.id, p.n, p.n + COALESCE(u.delta, 0) AS exact_n, p.h
  FROM dc_parent p
  LEFT JOIN counterfield.unfolded('dc_parent', 'n') u ON u.parent_key = CAST(ROW(p.id) AS text)
 ORDER BY p.id;
INSERT INTO dc_child (pid) VALUES (2);
ALTER TABLE dc_child DROP COLUMN pid;
DROP TABLE dc_other;
SELECT id, n, h, t FROM dc_parent ORDER BY id;
SELECT count(*) FROM counterfield.ledger;
DROP TABLE dc_child, dc_parent;

-- A counter that cannot be folded before the DDL that drops it is
-- reported, and the DDL goes on.
CREATE TABLE dw_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0 CHECK (n <= 1));
CREATE TABLE dw_child (id serial PRIMARY KEY, pid int REFERENCES dw_parent);
SELECT counterfield.add_counter('dw_parent', 'n', 'dw_child', flush => 'deferred');
INSERT INTO dw_parent VALUES (1);
INSERT INTO dw_child (pid) VALUES (1), (1);
DROP TABLE dw_child;
SELECT * FROM dw_parent;
SELECT count(*) FROM counterfield.ledger;
DROP TABLE dw_parent;

-- Folding deletes from the ledger, which a publication of all tables
-- allows: the ledger has a replica identity.
SET client_min_messages = error;
CREATE PUBLICATION dpub FOR ALL TABLES;
RESET client_min_messages;
CREATE TABLE dq_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE dq_child (id serial PRIMARY KEY, pid int REFERENCES dq_parent);
SELECT counterfield.add_counter('dq_parent', 'n', 'dq_child', flush => 'deferred');
INSERT INTO dq_parent VALUES (1);
INSERT INTO dq_child (pid) VALUES (1), (1);
SELECT counterfield.fold('dq_parent');
SELECT * FROM dq_parent;
DROP PUBLICATION dpub;
DROP TABLE dq_child, dq_parent;

-- An invalid mode is refused, and names the modes.
CREATE TABLE dx (id int PRIMARY KEY, n int, ref int);
SELECT counterfield.add_counter('dx', 'n', 'dx', fk_columns => '{ref}', flush => 'later');
DROP TABLE dx;
DROP FUNCTION deferred_mismatches(regclass, text, regclass, text, text);
