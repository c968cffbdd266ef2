-- Who may call what.  Every function of the extension, as the catalog lists
-- it, is called by a role with no privileges, with nulls and with hostile
-- arguments; the server stays up and nothing changes.  A function added
-- later shows up here and must be reviewed before this test passes again.
CREATE ROLE cf_nobody;
CREATE ROLE cf_victim;
GRANT USAGE, CREATE ON SCHEMA public TO cf_nobody;
GRANT USAGE, CREATE ON SCHEMA public TO cf_victim;

-- A counter that belongs to another role, with a value left uncounted.
SET ROLE cf_victim;
CREATE TABLE victim_parent (id int PRIMARY KEY, n int, m int);
CREATE TABLE victim_child (id serial PRIMARY KEY, victim_parent_id int REFERENCES victim_parent,
                           size int);
INSERT INTO victim_parent VALUES (1), (2), (3);
INSERT INTO victim_child (victim_parent_id, size) VALUES (1, 1), (1, 5), (2, 5);
SELECT counterfield.add_counter('victim_parent', 'n', 'victim_child');
SELECT counterfield.add_counter('victim_parent', 'm', 'victim_child', condition => 'size > 2',
                                flush => 'transaction');
UPDATE victim_parent SET n = NULL WHERE id = 3;
RESET ROLE;

-- Every function, what it returns, and whether a role with no privileges
-- may execute it.  Only the functions a table owner needs are open to all.
SELECT p.oid::regprocedure AS function, p.prorettype::regtype AS returns,
       has_function_privilege('cf_nobody', p.oid, 'EXECUTE') AS public,
       p.prosecdef AS definer
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'counterfield')
 ORDER BY 1::text;

-- Every table, view and sequence, and what such a role may do with it.
SELECT c.oid::regclass AS relation, c.relkind,
       has_table_privilege('cf_nobody', c.oid, 'SELECT') AS can_select,
       has_table_privilege('cf_nobody', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') AS can_write
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'counterfield')
 ORDER BY 1::text;

-- What the role will not be able to change.
CREATE TABLE before_state AS
SELECT (SELECT string_agg(c::text, ';' ORDER BY id) FROM counterfield.counter c) AS catalog,
       (SELECT string_agg(p::text, ';' ORDER BY id) FROM victim_parent p) AS parents,
       (SELECT string_agg(c::text, ';' ORDER BY id) FROM victim_child c) AS children,
       (SELECT string_agg(tgname, ';' ORDER BY tgname) FROM pg_trigger
         WHERE NOT tgisinternal) AS triggers;

-- Calls every function it may execute (trigger functions cannot be called)
-- with each set of arguments below, each call in its own subtransaction,
-- and reports what happened.  Sets 2 and 3 name the victim's tables, 4 and
-- 5 no table, 6 and 7 tables of the caller's own with hostile conditions.
CREATE FUNCTION hostile_calls() RETURNS TABLE (function text, args int, outcome text)
LANGUAGE plpgsql AS $$
DECLARE
    f record;
    arg_set int;
    call text;
    value text;
    state text;
    msg text;
BEGIN
    FOR f IN
        SELECT p.oid, p.proname, ARRAY(SELECT unnest(p.proargtypes::oid[])) AS types,
               coalesce(p.proargnames, '{}') AS names,
               CASE WHEN p.prorettype = 'record'::regtype AND p.proallargtypes IS NULL
                    THEN ' AS t(k integer, n bigint)' ELSE '' END AS coldefs
          FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
         WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
           AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'counterfield')
           AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
           AND has_function_privilege(p.oid, 'EXECUTE')
         ORDER BY p.oid::regprocedure::text
    LOOP
        FOR arg_set IN 1 .. 7 LOOP
            call := '';
            FOR i IN 1 .. coalesce(array_length(f.types, 1), 0) LOOP
                value := CASE
                    WHEN f.types[i] = 'regclass'::regtype AND f.names[i] = 'child' THEN
                        (ARRAY['NULL', '''victim_child''', '''victim_parent''', '0', '4294967295',
                               '''own_child''', '''own_child'''])[arg_set]
                    WHEN f.types[i] = 'regclass'::regtype THEN
                        (ARRAY['NULL', '''victim_parent''', '''victim_child''', '0', '4294967295',
                               '''own_parent''', '''own_parent'''])[arg_set]
                    WHEN f.types[i] = 'regclass[]'::regtype THEN
                        (ARRAY['NULL', '''{victim_child}''', '''{victim_parent}''', '''{0}''',
                               '''{NULL}''', 'NULL', 'NULL'])[arg_set]
                    WHEN f.types[i] = 'name'::regtype AND f.names[i] = 'sum_column' THEN
                        (ARRAY['NULL', '''size''', '''victim_parent_id''', '''id''',
                               quote_literal(''''), 'NULL', 'NULL'])[arg_set]
                    WHEN f.types[i] = 'name'::regtype THEN
                        (ARRAY['NULL', '''n''', '''m''', '''id''', quote_literal(''''), '''n''',
                               '''n'''])[arg_set]
                    WHEN f.types[i] = 'name[]'::regtype AND f.names[i] = 'parent_columns' THEN
                        (ARRAY['NULL', '''{id}''', '''{victim_parent_id}''', '''{NULL}''',
                               '''{{a},{b}}''', 'NULL', '''{id}'''])[arg_set]
                    WHEN f.types[i] = 'name[]'::regtype THEN
                        (ARRAY['NULL', '''{victim_parent_id}''', '''{id}''', '''{NULL}''',
                               '''{{a},{b}}''', 'NULL', '''{own_parent_id}'''])[arg_set]
                    WHEN f.types[i] = 'text'::regtype AND f.names[i] = 'flush' THEN
                        (ARRAY['NULL', '''statement''', '''transaction''', '''statement''',
                               '''x''', '''statement''', '''transaction'''])[arg_set]
                    WHEN f.types[i] = 'text'::regtype THEN
                        (ARRAY['NULL',
                               quote_literal('{VAR :varno 1 :varattno 999 :vartype 23}'),
                               quote_literal('{CONST :consttype 25 :constlen -1 :constbyval false :constisnull false :constvalue 4 [ 0 0 0 0 ]}'),
                               quote_literal('true) FROM pg_authid --'),
                               quote_literal(repeat('x(', 5000)),
                               quote_literal('{VAR :varno 1 :varattno 999 :vartype 23}'),
                               quote_literal('id > 0) OR (SELECT true FROM pg_authid LIMIT 1')
                              ])[arg_set]
                    WHEN f.types[i] = 'boolean'::regtype THEN
                        (ARRAY['NULL', 'true', 'false', 'true', 'false', 'true', 'true'])[arg_set]
                    WHEN f.types[i] = 'integer'::regtype THEN
                        (ARRAY['NULL', '1', '0', '-1', '2147483647', '2', '3'])[arg_set]
                    ELSE 'NULL'
                END;
                call := call || CASE WHEN i > 1 THEN ', ' ELSE '' END
                        || format('%s::%s', value, f.types[i]::regtype);
            END LOOP;
            BEGIN
                EXECUTE format('SELECT count(*) FROM counterfield.%I(%s)%s', f.proname, call,
                               f.coldefs);
                state := 'ok';
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
                state := state || ' ' || msg;
            END;
            function := f.proname;
            args := arg_set;
            outcome := left(state, 90);
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;

SET ROLE cf_nobody;
CREATE TABLE own_parent (id int PRIMARY KEY, n int);
CREATE TABLE own_child (id int, own_parent_id int REFERENCES own_parent);
SELECT * FROM hostile_calls();
-- it holds no lock on the victim's tables
SELECT relation::regclass, mode FROM pg_locks
 WHERE pid = pg_backend_pid() AND relation IN ('victim_parent'::regclass, 'victim_child'::regclass);
RESET ROLE;

-- Nothing changed, and the server is still up.
SELECT (SELECT string_agg(c::text, ';' ORDER BY id) FROM counterfield.counter c) = catalog
           AS catalog_same,
       (SELECT string_agg(p::text, ';' ORDER BY id) FROM victim_parent p) = parents AS parents_same,
       (SELECT string_agg(c::text, ';' ORDER BY id) FROM victim_child c) = children
           AS children_same,
       (SELECT string_agg(tgname, ';' ORDER BY tgname) FROM pg_trigger
         WHERE NOT tgisinternal) = triggers AS triggers_same
  FROM before_state;
SELECT id, n FROM victim_parent ORDER BY id;

-- The trigger functions that a table owner places may be placed by anyone
-- on a table of its own, but run only as the trigger add_counter names for
-- the event: a role that may create triggers on a counted child cannot
-- make it count twice.
GRANT TRIGGER, INSERT ON victim_child TO cf_nobody;
GRANT USAGE ON SEQUENCE victim_child_id_seq TO cf_nobody;
SET ROLE cf_nobody;
CREATE TRIGGER twice AFTER INSERT ON victim_child REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION counterfield.child_trigger();
INSERT INTO victim_child (victim_parent_id, size) VALUES (2, 9);
CREATE TRIGGER guard_twice BEFORE INSERT ON victim_child
    FOR EACH ROW EXECUTE FUNCTION counterfield.parent_trigger();
INSERT INTO victim_child (victim_parent_id, size) VALUES (2, 9);
-- the catalog's own trigger functions are not for anyone to place
CREATE TABLE nobody_table (id int);
DROP TABLE own_child, own_parent;
CREATE TRIGGER resolve BEFORE INSERT ON nobody_table
    FOR EACH ROW EXECUTE FUNCTION counterfield.catalog_resolve();
CREATE TRIGGER changed AFTER INSERT ON nobody_table
    FOR EACH ROW EXECUTE FUNCTION counterfield.catalog_trigger();
RESET ROLE;
-- not even by a superuser, on a table other than the catalog
CREATE TRIGGER resolve BEFORE INSERT ON nobody_table
    FOR EACH ROW EXECUTE FUNCTION counterfield.catalog_resolve();
INSERT INTO nobody_table VALUES (1);
DROP TABLE nobody_table;
DROP TRIGGER twice ON victim_child;
DROP TRIGGER guard_twice ON victim_child;
-- the uncounted value stays NULL; the others match count(*)
SELECT id, n, (SELECT count(*) FROM victim_child c WHERE c.victim_parent_id = p.id) AS n_truth,
       m, (SELECT count(*) FROM victim_child c WHERE c.victim_parent_id = p.id AND size > 2)
           AS m_truth
  FROM victim_parent p ORDER BY id;

-- A trigger of another's with a name counterfield uses is not taken for its own.
CREATE TABLE squat_parent (id int PRIMARY KEY, n int);
CREATE TABLE squat_child (squat_parent_id int REFERENCES squat_parent);
CREATE FUNCTION squat() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE TRIGGER counterfield_insert AFTER INSERT ON squat_child
    FOR EACH STATEMENT EXECUTE FUNCTION squat();
SELECT counterfield.add_counter('squat_parent', 'n', 'squat_child');
SELECT count(*) FROM counterfield.counters WHERE parent = 'squat_parent'::regclass;
-- nor is a trigger of counterfield's function with that name for other
-- events or with a WHEN condition, as a role that may create triggers on
-- the child could place before the counter is added
DROP TRIGGER counterfield_insert ON squat_child;
CREATE TRIGGER counterfield_insert AFTER INSERT ON squat_child REFERENCING NEW TABLE AS n
    FOR EACH STATEMENT WHEN (false) EXECUTE FUNCTION counterfield.child_trigger();
SELECT counterfield.add_counter('squat_parent', 'n', 'squat_child');
DROP TABLE squat_child, squat_parent;
DROP FUNCTION squat();

DROP FUNCTION hostile_calls();
DROP TABLE before_state;
SET ROLE cf_victim;
DROP TABLE victim_child, victim_parent;
RESET ROLE;
REVOKE ALL ON SCHEMA public FROM cf_victim, cf_nobody;
DROP ROLE cf_nobody;
DROP ROLE cf_victim;

-- counts() answers only the reinit or verify that asked for it, once: code
-- that runs during reinit, a trigger on the parent say, is refused too.
CREATE TABLE cq_parent (id int PRIMARY KEY, n int);
CREATE TABLE cq_child (cq_parent_id int REFERENCES cq_parent);
CREATE INDEX ON cq_child (cq_parent_id);
CREATE TABLE cq_log (outcome text);
CREATE FUNCTION cq_peek() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM * FROM counterfield.counts((SELECT id FROM counterfield.counter
                                            WHERE parent = 'cq_parent'::regclass))
                       AS c(k integer, n bigint);
        INSERT INTO cq_log VALUES ('read');
    EXCEPTION WHEN insufficient_privilege THEN
        INSERT INTO cq_log VALUES ('refused');
    END;
    RETURN NEW;
END
$$;
INSERT INTO cq_parent VALUES (1), (2);
INSERT INTO cq_child VALUES (1), (1);
SELECT counterfield.add_counter('cq_parent', 'n', 'cq_child', initialize => false);
CREATE TRIGGER cq_peek BEFORE UPDATE ON cq_parent FOR EACH ROW EXECUTE FUNCTION cq_peek();
SELECT counterfield.reinit('cq_parent', 'n');
SELECT outcome, count(*) FROM cq_log GROUP BY 1;
SELECT id, n FROM cq_parent ORDER BY id;
DROP TABLE cq_child, cq_parent, cq_log;
DROP FUNCTION cq_peek();

-- A role that may write a counted child but not read the parent learns no
-- values of the parent from an error of counterfield's update of it (the
-- failing row, the key), in any mode; a role that may read it does.
CREATE ROLE cf_writer;
CREATE TABLE cl_parent (id int PRIMARY KEY, secret text DEFAULT 'hidden',
                        n int NOT NULL DEFAULT 0 CHECK (n <= 1),
                        tn int NOT NULL DEFAULT 0 CHECK (tn <= 1),
                        dn int NOT NULL DEFAULT 0 CHECK (dn <= 1));
CREATE TABLE cl_child (cl_parent_id int REFERENCES cl_parent);
CREATE INDEX ON cl_child (cl_parent_id);
INSERT INTO cl_parent (id) VALUES (1), (2), (3);
SELECT counterfield.add_counter('cl_parent', 'n', 'cl_child', condition => 'cl_parent_id = 1');
SELECT counterfield.add_counter('cl_parent', 'tn', 'cl_child', condition => 'cl_parent_id = 2',
                                flush => 'transaction');
SELECT counterfield.add_counter('cl_parent', 'dn', 'cl_child', condition => 'cl_parent_id = 3',
                                flush => 'deferred');
GRANT INSERT ON cl_child TO cf_writer;
SET ROLE cf_writer;
INSERT INTO cl_child VALUES (1), (1);
INSERT INTO cl_child VALUES (2), (2);
INSERT INTO cl_child VALUES (3), (3);
RESET ROLE;
SELECT counterfield.fold('cl_parent');
GRANT SELECT ON cl_parent TO cf_writer;
SET ROLE cf_writer;
INSERT INTO cl_child VALUES (1), (1);
RESET ROLE;
DELETE FROM cl_child WHERE ctid = (SELECT min(ctid) FROM cl_child WHERE cl_parent_id = 3);
SELECT counterfield.fold('cl_parent');
SELECT id, n, tn, dn, (SELECT count(*) FROM cl_child c WHERE c.cl_parent_id = p.id) AS truth
  FROM cl_parent p ORDER BY id;
-- Row-level security that hides the row hides it here too; a data
-- exception, which may quote a value, shows a general message.
ALTER TABLE cl_parent ENABLE ROW LEVEL SECURITY;
CREATE POLICY cl_none ON cl_parent FOR SELECT USING (false);
SET ROLE cf_writer;
INSERT INTO cl_child VALUES (1), (1);
RESET ROLE;
DROP POLICY cl_none ON cl_parent;
ALTER TABLE cl_parent DISABLE ROW LEVEL SECURITY;
REVOKE SELECT ON cl_parent FROM cf_writer;
ALTER TABLE cl_parent ADD CONSTRAINT cl_cast CHECK (n < 1 OR secret::int > 0) NOT VALID;
SET ROLE cf_writer;
INSERT INTO cl_child VALUES (1);
RESET ROLE;
INSERT INTO cl_child VALUES (1);
SELECT id, n, tn, dn, (SELECT count(*) FROM cl_child c WHERE c.cl_parent_id = p.id) AS truth
  FROM cl_parent p ORDER BY id;
DROP TABLE cl_child, cl_parent;
DROP ROLE cf_writer;
