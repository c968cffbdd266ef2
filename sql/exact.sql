-- A count is never wrong at the edges: keys that are equal without being
-- the same bytes, key types changed under pending deltas, many counters on
-- one table, key columns of different collations, rules on the parent.

-- Keys compare as their type does: numeric 1.0, 1.00 and 1 are one parent.
-- The pending deltas of rows written before their parent (those of the
-- statement-mode counter wait for commit too, as their parent row is
-- missing) are found whatever the spelling, so the new parent is not
-- counted twice.
CREATE TABLE num_parent (id numeric PRIMARY KEY, n int, tn int);
CREATE TABLE num_child (id serial PRIMARY KEY, num_parent_id numeric);
SELECT counterfield.add_counter('num_parent', 'n', 'num_child', fk_columns => '{num_parent_id}');
SELECT counterfield.add_counter('num_parent', 'tn', 'num_child', fk_columns => '{num_parent_id}',
                                flush => 'transaction');
BEGIN;
INSERT INTO num_child (num_parent_id) VALUES (1.0), (1.00), (1), (2.50);
SELECT counter_column, parent_key, delta FROM counterfield.tracked_states() ORDER BY 1, 2;
INSERT INTO num_parent VALUES (1), (2.5);
COMMIT;
BEGIN;
INSERT INTO num_child (num_parent_id) VALUES (3.000);
INSERT INTO num_parent VALUES (3.0);
DELETE FROM num_child WHERE num_parent_id = 1.000 AND id = 1;
UPDATE num_parent SET id = 4.0 WHERE id = 3;
INSERT INTO num_child (num_parent_id) VALUES (4), (4.00);
COMMIT;
SELECT id, n, tn, (SELECT count(*) FROM num_child c WHERE c.num_parent_id = p.id) AS truth
  FROM num_parent p ORDER BY id;

-- Text under a nondeterministic collation: 'Ann' and 'ANN' are one key.
CREATE COLLATION cf_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE ci_parent (name text COLLATE cf_ci PRIMARY KEY, n int, tn int);
CREATE TABLE ci_child (id serial PRIMARY KEY, name text COLLATE cf_ci);
SELECT counterfield.add_counter('ci_parent', 'n', 'ci_child', fk_columns => '{name}');
SELECT counterfield.add_counter('ci_parent', 'tn', 'ci_child', fk_columns => '{name}',
                                flush => 'transaction');
BEGIN;
INSERT INTO ci_child (name) VALUES ('Ann'), ('ANN'), ('ann'), ('bob');
INSERT INTO ci_parent VALUES ('aNN'), ('Bob');
UPDATE ci_child SET name = 'BOB' WHERE name = 'ANN' AND id = 2;
COMMIT;
SELECT name, n, tn, (SELECT count(*) FROM ci_child c WHERE c.name = p.name) AS truth
  FROM ci_parent p ORDER BY name;

-- Key columns of two different collations: the parent's decides.
CREATE TABLE coll_parent (code text COLLATE "C" PRIMARY KEY, n int);
CREATE TABLE coll_child (id serial PRIMARY KEY, code text COLLATE "POSIX" REFERENCES coll_parent);
INSERT INTO coll_parent VALUES ('a'), ('b');
INSERT INTO coll_child (code) VALUES ('a'), ('a'), ('b');
SELECT counterfield.add_counter('coll_parent', 'n', 'coll_child');
INSERT INTO coll_child (code) SELECT 'b' FROM generate_series(1, 20);
SELECT counterfield.reinit('coll_parent', 'n');
SELECT * FROM counterfield.verify('coll_parent', 'n');
SELECT code, n, (SELECT count(*) FROM coll_child c WHERE c.code = p.code COLLATE "C") AS truth
  FROM coll_parent p ORDER BY code;

-- A key column whose type changes in a transaction with pending deltas:
-- the deltas are applied before the change, in the old type.
CREATE TABLE tc_parent (id int PRIMARY KEY, tn int);
CREATE TABLE tc_child (id serial PRIMARY KEY, tc_parent_id int);
INSERT INTO tc_parent VALUES (1), (2);
SELECT counterfield.add_counter('tc_parent', 'tn', 'tc_child', fk_columns => '{tc_parent_id}',
                                flush => 'transaction');
BEGIN;
INSERT INTO tc_child (tc_parent_id) VALUES (1), (1), (2);
ALTER TABLE tc_parent ALTER COLUMN id TYPE numeric;
ALTER TABLE tc_child ALTER COLUMN tc_parent_id TYPE numeric;
SELECT parent_key, delta, stale FROM counterfield.tracked_states(prune => false) ORDER BY 1;
INSERT INTO tc_child (tc_parent_id) VALUES (2.0), (1);
COMMIT;
SELECT id, tn, (SELECT count(*) FROM tc_child c WHERE c.tc_parent_id = p.id) AS truth
  FROM tc_parent p ORDER BY id;
-- a change rolled back to a savepoint takes the early flush back with it
BEGIN;
INSERT INTO tc_child (tc_parent_id) VALUES (1), (2);
SAVEPOINT before_change;
ALTER TABLE tc_child ALTER COLUMN tc_parent_id TYPE int;
ROLLBACK TO before_change;
SELECT parent_key, delta FROM counterfield.tracked_states() ORDER BY 1;
INSERT INTO tc_child (tc_parent_id) VALUES (2);
COMMIT;
SELECT id, tn, (SELECT count(*) FROM tc_child c WHERE c.tc_parent_id = p.id) AS truth
  FROM tc_parent p ORDER BY id;

-- Many counters on one table: 210 columns with the same key, each counting
-- a condition of its own; new parents get all their true counts.
CREATE TABLE wide_parent (id int PRIMARY KEY);
CREATE TABLE wide_child (id serial PRIMARY KEY, wide_parent_id int REFERENCES wide_parent,
                         v int);
DO $$
BEGIN
    FOR i IN 1 .. 210 LOOP
        EXECUTE format('ALTER TABLE wide_parent ADD COLUMN c%s int', i);
    END LOOP;
END
$$;
INSERT INTO wide_parent (id) VALUES (1);
INSERT INTO wide_child (wide_parent_id, v) SELECT 1, g FROM generate_series(1, 300) g;
SELECT count(*) FROM (
    SELECT counterfield.add_counter('wide_parent', 'c' || i, 'wide_child',
                                    condition => format('v > %s', i))
      FROM generate_series(1, 210) i) s;
INSERT INTO wide_parent (id) VALUES (2);
INSERT INTO wide_child (wide_parent_id, v) SELECT 2, g FROM generate_series(1, 250) g;
DELETE FROM wide_child WHERE wide_parent_id = 1 AND v % 7 = 0;
SELECT count(*) AS mismatched_columns FROM generate_series(1, 210) i
 WHERE mismatches('wide_parent', 'c' || i, 'wide_child', 'wide_parent_id',
                  cond => format('v > %s', i)) > 0;
SELECT c1, c100, c210 FROM wide_parent ORDER BY id;

-- Rules: a parent whose updates an INSTEAD rule rewrites cannot keep
-- counters, said when the counter is added and when a rule comes later.
CREATE TABLE rule_parent (id int PRIMARY KEY, n int);
CREATE TABLE rule_child (id serial PRIMARY KEY, rule_parent_id int REFERENCES rule_parent);
INSERT INTO rule_parent VALUES (1);
CREATE RULE no_updates AS ON UPDATE TO rule_parent DO INSTEAD NOTHING;
SELECT counterfield.add_counter('rule_parent', 'n', 'rule_child');
DROP RULE no_updates ON rule_parent;
SELECT counterfield.add_counter('rule_parent', 'n', 'rule_child');
CREATE TABLE rule_log (id int);
CREATE RULE redirect AS ON UPDATE TO rule_parent DO INSTEAD INSERT INTO rule_log VALUES (old.id);
INSERT INTO rule_child (rule_parent_id) VALUES (1);
DROP RULE redirect ON rule_parent;
INSERT INTO rule_child (rule_parent_id) VALUES (1);
SELECT id, n, (SELECT count(*) FROM rule_child c WHERE c.rule_parent_id = p.id) AS truth
  FROM rule_parent p;

DROP TABLE num_child, num_parent, ci_child, ci_parent, coll_child, coll_parent,
           tc_child, tc_parent, wide_child, wide_parent, rule_child, rule_parent, rule_log;
DROP COLLATION cf_ci;

-- Temporary tables: a counter on one is refused (it would go with its
-- session, unseen by any event trigger), and so is a temporary table under
-- a counted child.  A catalog row whose table is gone, as a dump taken
-- before this check may carry, is left out of a restore with a warning
-- instead of failing it.
CREATE TEMP TABLE tmp_parent (id int PRIMARY KEY, n int);
CREATE TABLE perm_parent (id int PRIMARY KEY, n int);
CREATE TEMP TABLE tmp_child (tmp_parent_id int REFERENCES tmp_parent);
CREATE TABLE perm_child (perm_parent_id int REFERENCES perm_parent);
SELECT counterfield.add_counter('tmp_parent', 'n', 'tmp_child');
SELECT counterfield.add_counter('perm_parent', 'n', 'perm_child');
CREATE TEMP TABLE tmp_grandchild () INHERITS (perm_child);
INSERT INTO counterfield.counter (parent, child, counter_column, fk_columns, parent_columns, flush)
VALUES (4000000000, 4000000001, 'n', '{x}', '{id}', 'statement');
SELECT parent, counter_column, child FROM counterfield.counters WHERE counter_column = 'n';
SELECT counterfield.drop_counter('perm_parent', 'n');
DROP TABLE perm_child, perm_parent, tmp_child, tmp_parent;

-- A condition whose function writes more rows into the child while the
-- statement is being counted: the nested statement applies the entries it
-- shares with the outer one, and nothing is applied twice or freed twice.
CREATE TABLE nest_parent (k text PRIMARY KEY, n int, tn int);
CREATE TABLE nest_child (k text, nested boolean DEFAULT false);
INSERT INTO nest_parent VALUES ('a'), ('b');
CREATE FUNCTION nest_write(t text) RETURNS boolean LANGUAGE sql VOLATILE
    AS $$ INSERT INTO public.nest_child SELECT t, true FROM generate_series(1, 4); SELECT true $$;
CREATE FUNCTION nest_cond(t text, nested boolean) RETURNS boolean LANGUAGE plpgsql IMMUTABLE
    AS $$ BEGIN RETURN nested OR public.nest_write(t); END $$;
SELECT counterfield.add_counter('nest_parent', 'n', 'nest_child', fk_columns => '{k}',
                                condition => 'nest_cond(k, nested)');
SELECT counterfield.add_counter('nest_parent', 'tn', 'nest_child', fk_columns => '{k}',
                                flush => 'transaction');
INSERT INTO nest_child VALUES ('a'), ('a'), ('b'), ('b');
SELECT k, n, tn, (SELECT count(*) FROM nest_child c WHERE c.k = p.k) AS truth
  FROM nest_parent p ORDER BY k;
DROP TABLE nest_child, nest_parent;
DROP FUNCTION nest_cond(text, boolean), nest_write(text);

-- A conditional INSTEAD rule added after the counter is refused when the
-- counter is next updated, rather than losing updates silently.
CREATE TABLE cr_parent (id int PRIMARY KEY, n int);
CREATE TABLE cr_child (cr_parent_id int);
INSERT INTO cr_parent VALUES (1), (2);
SELECT counterfield.add_counter('cr_parent', 'n', 'cr_child', fk_columns => '{cr_parent_id}');
CREATE RULE skip_one AS ON UPDATE TO cr_parent WHERE old.id = 1 DO INSTEAD NOTHING;
INSERT INTO cr_child VALUES (1), (1), (2);
DROP RULE skip_one ON cr_parent;
INSERT INTO cr_child VALUES (1), (1), (2);
SELECT id, n, (SELECT count(*) FROM cr_child c WHERE c.cr_parent_id = p.id) AS truth
  FROM cr_parent p ORDER BY id;
DROP TABLE cr_child, cr_parent;

-- Child key deterministic, parent key case-insensitive: every path, the
-- count of a new parent and reinit and verify included, compares under the
-- parent's collation.
CREATE COLLATION cf_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE cm_parent (code text COLLATE cf_ci PRIMARY KEY, n int, tn int);
CREATE TABLE cm_child (code text COLLATE "C");
INSERT INTO cm_child VALUES ('ann'), ('ANN'), ('Ann'), ('bob');
SELECT counterfield.add_counter('cm_parent', 'n', 'cm_child', fk_columns => '{code}',
                                parent_columns => '{code}');
SELECT counterfield.add_counter('cm_parent', 'tn', 'cm_child', fk_columns => '{code}',
                                parent_columns => '{code}', flush => 'transaction');
INSERT INTO cm_parent VALUES ('Ann');
BEGIN;
INSERT INTO cm_child VALUES ('aNN'), ('BOB');
INSERT INTO cm_parent VALUES ('Bob');
COMMIT;
SELECT * FROM counterfield.verify('cm_parent');
SELECT counterfield.reinit('cm_parent', 'n');
SELECT code, n, tn, (SELECT count(*) FROM cm_child c WHERE c.code = p.code COLLATE cf_ci) AS truth
  FROM cm_parent p ORDER BY code;
DROP TABLE cm_child, cm_parent;
DROP COLLATION cf_ci;

-- A partition with counters of its own keeps those of the partitioned
-- table too: a new row gets both counts, and the guard holds both.
CREATE TABLE pp (id int PRIMARY KEY, n int, m int) PARTITION BY RANGE (id);
CREATE TABLE pp1 PARTITION OF pp FOR VALUES FROM (0) TO (100);
CREATE TABLE pc (pp_id int);
CREATE TABLE pc2 (pp_id int);
SELECT counterfield.add_counter('pp', 'n', 'pc', fk_columns => '{pp_id}');
SELECT counterfield.add_counter('pp1', 'm', 'pc2', fk_columns => '{pp_id}');
INSERT INTO pc VALUES (5), (5);
INSERT INTO pc2 VALUES (5);
INSERT INTO pp VALUES (5, 999, 999);
UPDATE pp SET n = 12345, m = 54321;
SELECT id, n, m FROM pp;
SELECT counterfield.drop_counter('pp1', 'm');
SELECT counterfield.drop_counter('pp', 'n');
DROP TABLE pp, pc, pc2;

-- A key type dropped while cancelled deltas of it wait to be pruned, and a
-- parent table dropped by another parent's trigger in the middle of a flush.
CREATE DOMAIN dk AS int;
CREATE TABLE dk_parent (id dk PRIMARY KEY, tn int);
CREATE TABLE dk_child (dk_parent_id dk);
SELECT counterfield.add_counter('dk_parent', 'tn', 'dk_child', fk_columns => '{dk_parent_id}',
                                flush => 'transaction');
BEGIN;
INSERT INTO dk_child VALUES (1), (2);
ALTER TABLE dk_child ALTER COLUMN dk_parent_id TYPE int;
ALTER TABLE dk_parent ALTER COLUMN id TYPE int;
DROP DOMAIN dk;
SELECT parent_key, delta, stale FROM counterfield.tracked_states(prune => false) ORDER BY 2;
COMMIT;
DROP TABLE dk_child, dk_parent;
CREATE TABLE da (id int PRIMARY KEY, n int);
CREATE TABLE db (id int PRIMARY KEY, n int);
CREATE TABLE dc (da_id int, db_id int);
INSERT INTO da VALUES (1);
INSERT INTO db VALUES (1);
SELECT counterfield.add_counter('da', 'n', 'dc', fk_columns => '{da_id}');
SELECT counterfield.add_counter('db', 'n', 'dc', fk_columns => '{db_id}');
CREATE FUNCTION drop_db() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN DROP TABLE public.db; RETURN NULL; END $$;
CREATE TRIGGER drop_db AFTER UPDATE ON da FOR EACH ROW EXECUTE FUNCTION drop_db();
INSERT INTO dc VALUES (1, 1);
SELECT id, n FROM da;
SELECT count(*) AS db_left FROM pg_class WHERE relname = 'db';
DROP TABLE dc, da;
DROP FUNCTION drop_db();

-- reinit and add_counter update parents under the caller's search_path, as
-- counted writes do: a parent trigger that names a table unqualified works
-- in all of them.
CREATE TABLE sp_log (id int, n int);
CREATE TABLE sp_parent (id int PRIMARY KEY, n int);
CREATE TABLE sp_child (sp_parent_id int);
CREATE INDEX ON sp_child (sp_parent_id);
CREATE FUNCTION sp_note() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO sp_log VALUES (NEW.id, NEW.n); RETURN NULL; END $$;
CREATE TRIGGER sp_note AFTER UPDATE ON sp_parent FOR EACH ROW EXECUTE FUNCTION sp_note();
INSERT INTO sp_parent VALUES (1), (2);
INSERT INTO sp_child VALUES (1), (1), (2);
SELECT counterfield.add_counter('sp_parent', 'n', 'sp_child', fk_columns => '{sp_parent_id}');
INSERT INTO sp_child VALUES (2);
UPDATE sp_parent SET n = NULL WHERE id = 1;
SELECT counterfield.reinit('sp_parent', 'n');
SELECT * FROM sp_log ORDER BY 1, 2;
DROP TABLE sp_child, sp_parent, sp_log;
DROP FUNCTION sp_note();

-- "Get or create": a trigger on the child that creates the parent while
-- the counted statement runs (as ORMs do, with a deferred foreign key or
-- none).  The new parent's count sees the statement's rows before their
-- deltas come; it is counted again when the statement is done.
CREATE TABLE goc_parent (id int PRIMARY KEY, n int, tn int);
CREATE TABLE goc_child (id serial PRIMARY KEY,
                        goc_parent_id int REFERENCES goc_parent DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX ON goc_child (goc_parent_id);
SELECT counterfield.add_counter('goc_parent', 'n', 'goc_child');
SELECT counterfield.add_counter('goc_parent', 'tn', 'goc_child', flush => 'transaction');
CREATE FUNCTION goc_create() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO goc_parent (id) VALUES (NEW.goc_parent_id) ON CONFLICT DO NOTHING;
    RETURN NEW;
END
$$;
CREATE TRIGGER goc_after AFTER INSERT ON goc_child FOR EACH ROW EXECUTE FUNCTION goc_create();
BEGIN;
INSERT INTO goc_child (goc_parent_id) VALUES (1), (1), (2);
INSERT INTO goc_child (goc_parent_id) VALUES (2), (3);
COMMIT;
INSERT INTO goc_child (goc_parent_id) VALUES (4), (4), (1);
SELECT id, n, tn, (SELECT count(*) FROM goc_child c WHERE c.goc_parent_id = p.id) AS truth
  FROM goc_parent p ORDER BY id;
-- the same from a BEFORE row trigger, which sees the rows of the statement
-- written before its own
DROP TRIGGER goc_after ON goc_child;
CREATE TRIGGER goc_before BEFORE INSERT ON goc_child FOR EACH ROW EXECUTE FUNCTION goc_create();
INSERT INTO goc_child (goc_parent_id) VALUES (5), (5), (5), (6);
BEGIN;
INSERT INTO goc_child (goc_parent_id) VALUES (7), (7);
SAVEPOINT s;
INSERT INTO goc_child (goc_parent_id) VALUES (8), (8);
ROLLBACK TO s;
INSERT INTO goc_child (goc_parent_id) VALUES (8);
COMMIT;
SELECT id, n, tn, (SELECT count(*) FROM goc_child c WHERE c.goc_parent_id = p.id) AS truth
  FROM goc_parent p ORDER BY id;
DROP TABLE goc_child, goc_parent;
DROP FUNCTION goc_create();

-- The other way round: a parent's BEFORE INSERT trigger that writes a
-- child row of the parent being inserted, whichever of the two triggers
-- fires first.
CREATE TABLE first_parent (id int PRIMARY KEY, n int, tn int);
CREATE TABLE first_child (first_parent_id int REFERENCES first_parent DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX ON first_child (first_parent_id);
SELECT counterfield.add_counter('first_parent', 'n', 'first_child');
SELECT counterfield.add_counter('first_parent', 'tn', 'first_child', flush => 'transaction');
CREATE FUNCTION first_child() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO first_child VALUES (NEW.id), (NEW.id);
    RETURN NEW;
END
$$;
CREATE TRIGGER a_first_child BEFORE INSERT ON first_parent
    FOR EACH ROW EXECUTE FUNCTION first_child();
INSERT INTO first_parent (id) VALUES (1), (2);
DROP TRIGGER a_first_child ON first_parent;
CREATE TRIGGER z_first_child BEFORE INSERT ON first_parent
    FOR EACH ROW EXECUTE FUNCTION first_child();
INSERT INTO first_parent (id) VALUES (3);
BEGIN;
INSERT INTO first_parent (id) SELECT g FROM generate_series(4, 12) g;
COMMIT;
SELECT id, n, tn, (SELECT count(*) FROM first_child c WHERE c.first_parent_id = p.id) AS truth
  FROM first_parent p ORDER BY id;
DROP TABLE first_child, first_parent;
DROP FUNCTION first_child();

-- The same with transaction-mode counters alone, and with child rows that
-- a function called by the statement writing the parent inserts: the new
-- parent's count cannot see them, while their deltas are already pending.
CREATE TABLE tx_parent (id int PRIMARY KEY, tn int);
CREATE TABLE tx_child (tx_parent_id int);
CREATE INDEX ON tx_child (tx_parent_id);
SELECT counterfield.add_counter('tx_parent', 'tn', 'tx_child', fk_columns => '{tx_parent_id}',
                                flush => 'transaction');
CREATE FUNCTION tx_kids(id int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tx_child VALUES (id), (id), (id);
    RETURN id;
END
$$;
CREATE FUNCTION tx_kids_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tx_kids(NEW.id);
    RETURN NEW;
END
$$;
CREATE TRIGGER a_tx_kids BEFORE INSERT ON tx_parent
    FOR EACH ROW EXECUTE FUNCTION tx_kids_trigger();
INSERT INTO tx_parent VALUES (1, 0);
BEGIN;
INSERT INTO tx_parent VALUES (2, 0), (3, 0);
SELECT * FROM counterfield.tracked_states() ORDER BY parent_key;
COMMIT;
DROP TRIGGER a_tx_kids ON tx_parent;
INSERT INTO tx_parent VALUES (tx_kids(4), 0);
INSERT INTO tx_parent SELECT tx_kids(g), 0 FROM generate_series(5, 7) g;
-- a parent whose key changes is counted again for its new key
UPDATE tx_parent SET id = tx_kids(21) WHERE id = 1;
SELECT id, tn, (SELECT count(*) FROM tx_child c WHERE c.tx_parent_id = p.id) AS truth
  FROM tx_parent p ORDER BY id;
SELECT mismatches('tx_parent', 'tn', 'tx_child', 'tx_parent_id');
DROP TABLE tx_child, tx_parent;
DROP FUNCTION tx_kids_trigger();
DROP FUNCTION tx_kids(int);

-- The same where counterfield cannot follow the statement that writes the
-- parent: COPY, a partition named directly, the first statement of a
-- session (which starts before counterfield is loaded).  Such keys are
-- counted again at commit.
CREATE TABLE sp (id int PRIMARY KEY, n int) PARTITION BY RANGE (id);
CREATE TABLE sp1 PARTITION OF sp FOR VALUES FROM (0) TO (100);
CREATE TABLE sc (sp_id int);
CREATE INDEX ON sc (sp_id);
SELECT counterfield.add_counter('sp', 'n', 'sc', fk_columns => '{sp_id}');
CREATE TABLE tp (id int PRIMARY KEY, tn int) PARTITION BY RANGE (id);
CREATE TABLE tp1 PARTITION OF tp FOR VALUES FROM (0) TO (100);
CREATE TABLE tc (tp_id int);
CREATE INDEX ON tc (tp_id);
SELECT counterfield.add_counter('tp', 'tn', 'tc', fk_columns => '{tp_id}', flush => 'transaction');
CREATE FUNCTION kids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('INSERT INTO %I VALUES ($1), ($1)', TG_ARGV[0]) USING NEW.id;
    RETURN NEW;
END
$$;
CREATE TRIGGER a_kids BEFORE INSERT ON sp FOR EACH ROW EXECUTE FUNCTION kids('sc');
CREATE TRIGGER a_kids BEFORE INSERT ON tp FOR EACH ROW EXECUTE FUNCTION kids('tc');
\c
INSERT INTO tp VALUES (1);
\c
INSERT INTO sp VALUES (1);
COPY sp (id) FROM stdin;
2
\.
COPY tp (id) FROM stdin;
2
\.
INSERT INTO sp1 VALUES (3);
INSERT INTO tp1 VALUES (3);
BEGIN;
COPY sp1 (id) FROM stdin;
4
\.
COPY tp1 (id) FROM stdin;
4
\.
COMMIT;
-- the parent's trigger writing the child rows after counterfield's guard
DROP TRIGGER a_kids ON sp;
DROP TRIGGER a_kids ON tp;
CREATE TRIGGER z_kids BEFORE INSERT ON sp FOR EACH ROW EXECUTE FUNCTION kids('sc');
CREATE TRIGGER z_kids BEFORE INSERT ON tp FOR EACH ROW EXECUTE FUNCTION kids('tc');
\c
INSERT INTO tp VALUES (5);
\c
INSERT INTO sp VALUES (5);
COPY sp (id) FROM stdin;
6
\.
COPY tp (id) FROM stdin;
6
\.
INSERT INTO sp1 VALUES (7);
INSERT INTO tp1 VALUES (7);
SELECT id, n, (SELECT count(*) FROM sc WHERE sc.sp_id = sp.id) AS truth FROM sp ORDER BY id;
SELECT id, tn, (SELECT count(*) FROM tc WHERE tc.tp_id = tp.id) AS truth FROM tp ORDER BY id;
SELECT mismatches('sp', 'n', 'sc', 'sp_id') + mismatches('tp', 'tn', 'tc', 'tp_id') AS mismatches;
DROP TABLE sc, sp, tc, tp;
DROP FUNCTION kids();

-- "Get or create" from a trigger on the child under COPY, and as the first
-- statement of a session; a parent's trigger that first creates a row of
-- another counted parent; a key type change after a key was noted.
CREATE TABLE gp (id int PRIMARY KEY, n int, tn int);
CREATE TABLE gc (gp_id int);
CREATE INDEX ON gc (gp_id);
SELECT counterfield.add_counter('gp', 'n', 'gc', fk_columns => '{gp_id}');
SELECT counterfield.add_counter('gp', 'tn', 'gc', fk_columns => '{gp_id}', flush => 'transaction');
CREATE FUNCTION gp_create() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO gp (id) VALUES (NEW.gp_id) ON CONFLICT DO NOTHING;
    RETURN NEW;
END
$$;
CREATE TRIGGER gp_create AFTER INSERT ON gc FOR EACH ROW EXECUTE FUNCTION gp_create();
COPY gc FROM stdin;
1
1
1
\.
\c
INSERT INTO gc VALUES (2), (2), (2);
-- statements seen to start, in the transaction that loads counterfield,
-- are exact in statement mode at once
\c
BEGIN;
SELECT counterfield.has_tracked_states();
INSERT INTO gc VALUES (3), (3);
INSERT INTO gc VALUES (4);
SELECT id, n, (SELECT count(*) FROM gc WHERE gc.gp_id = gp.id) AS truth
  FROM gp WHERE id IN (3, 4) ORDER BY id;
COMMIT;
SELECT id, n, tn, (SELECT count(*) FROM gc WHERE gc.gp_id = gp.id) AS truth FROM gp ORDER BY id;
CREATE TABLE q1 (id int PRIMARY KEY, n int);
CREATE TABLE q1c (q1_id int);
SELECT counterfield.add_counter('q1', 'n', 'q1c', fk_columns => '{q1_id}');
CREATE TABLE q2 (id int PRIMARY KEY, n int);
CREATE TABLE q2c (q2_id int);
SELECT counterfield.add_counter('q2', 'n', 'q2c', fk_columns => '{q2_id}');
CREATE FUNCTION q1_kids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO q2 VALUES (NEW.id) ON CONFLICT DO NOTHING;
    INSERT INTO q1c VALUES (NEW.id), (NEW.id);
    RETURN NEW;
END
$$;
CREATE TRIGGER z_kids BEFORE INSERT ON q1 FOR EACH ROW EXECUTE FUNCTION q1_kids();
SELECT counterfield.has_tracked_states();
COPY q1 (id) FROM stdin;
1
\.
SELECT id, n, (SELECT count(*) FROM q1c WHERE q1c.q1_id = q1.id) AS truth FROM q1 ORDER BY id;
BEGIN;
COPY q1 (id) FROM stdin;
2
\.
ALTER TABLE q1c ALTER COLUMN q1_id TYPE text;
ALTER TABLE q1 ALTER COLUMN id TYPE text;
COMMIT;
SELECT id, n, (SELECT count(*) FROM q1c WHERE q1c.q1_id = q1.id) AS truth FROM q1 ORDER BY id;
SELECT mismatches('gp', 'n', 'gc', 'gp_id') + mismatches('gp', 'tn', 'gc', 'gp_id')
     + mismatches('q1', 'n', 'q1c', 'q1_id') + mismatches('q2', 'n', 'q2c', 'q2_id') AS mismatches;
DROP TABLE gc, gp, q1c, q1, q2c, q2;
DROP FUNCTION gp_create();
DROP FUNCTION q1_kids();

-- A parent with deferred constraints of its own, as Django declares them: a
-- DEFERRABLE INITIALLY DEFERRED foreign key, a deferrable unique constraint,
-- a CHECK (n >= 0) of a PositiveIntegerField.  Created in the same
-- transaction as its children, its row is new, so the update of its counters
-- queues the deferred checks; in every mode that is counted.
CREATE TABLE dj_repo (id int PRIMARY KEY);
CREATE TABLE dj_req (id int PRIMARY KEY,
                     repo_id int NOT NULL REFERENCES dj_repo DEFERRABLE INITIALLY DEFERRED,
                     slug text UNIQUE DEFERRABLE INITIALLY DEFERRED,
                     n int NOT NULL DEFAULT 0 CHECK (n >= 0),
                     tn int NOT NULL DEFAULT 0 CHECK (tn >= 0),
                     dn int NOT NULL DEFAULT 0 CHECK (dn >= 0));
CREATE TABLE dj_review (id serial PRIMARY KEY,
                        req_id int NOT NULL REFERENCES dj_req DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX ON dj_review (req_id);
SELECT counterfield.add_counter('dj_req', 'n', 'dj_review');
SELECT counterfield.add_counter('dj_req', 'tn', 'dj_review', flush => 'transaction');
SELECT counterfield.add_counter('dj_req', 'dn', 'dj_review', flush => 'deferred');
BEGIN;
INSERT INTO dj_req (id, repo_id, slug) VALUES (1, 1, 'a'), (2, 1, 'b');
INSERT INTO dj_review (req_id) VALUES (1), (1), (2);
INSERT INTO dj_repo VALUES (1);
SELECT counterfield.fold('dj_req');
DELETE FROM dj_review WHERE id = 3;
SELECT counterfield.fold('dj_req');
COMMIT;
SELECT id, n, tn, dn, (SELECT count(*) FROM dj_review r WHERE r.req_id = q.id) AS truth
  FROM dj_req q ORDER BY id;
-- A parent whose update runs code of its owner's (here a trigger) is
-- updated in a security-restricted operation, which cannot queue a deferred
-- check: an error that says what to do.  Checked at once, it is counted.
CREATE FUNCTION dj_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN NEW;
END
$$;
CREATE TRIGGER dj_touch BEFORE UPDATE ON dj_req FOR EACH ROW EXECUTE FUNCTION dj_touch();
BEGIN;
INSERT INTO dj_req (id, repo_id, slug) VALUES (3, 1, 'c');
INSERT INTO dj_review (req_id) VALUES (3);
ROLLBACK;
BEGIN;
INSERT INTO dj_req (id, repo_id, slug) VALUES (3, 1, 'c');
SET CONSTRAINTS ALL IMMEDIATE;
INSERT INTO dj_review (req_id) VALUES (3), (3);
SELECT counterfield.fold('dj_req');
COMMIT;
SELECT mismatches('dj_req', 'n', 'dj_review', 'req_id') + mismatches('dj_req', 'tn', 'dj_review', 'req_id')
     + mismatches('dj_req', 'dn', 'dj_review', 'req_id') AS mismatches;
DROP TABLE dj_review, dj_req, dj_repo;
DROP FUNCTION dj_touch();
-- A deferred unique constraint on the counter column is checked after the
-- commit-time update of transaction mode too: a duplicate fails the commit.
CREATE TABLE du_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0 UNIQUE DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE du_child (id serial PRIMARY KEY, pid int REFERENCES du_parent);
CREATE INDEX ON du_child (pid);
INSERT INTO du_parent VALUES (1, 0), (2, -1);
INSERT INTO du_child (pid) VALUES (2);
SELECT counterfield.add_counter('du_parent', 'n', 'du_child', flush => 'transaction');
INSERT INTO du_child (pid) VALUES (1);
SELECT id, n, (SELECT count(*) FROM du_child c WHERE c.pid = p.id) AS truth FROM du_parent p ORDER BY id;
DROP TABLE du_child, du_parent;
