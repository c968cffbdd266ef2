-- The state cache: transaction mode, savepoints, stale state, nested
-- statements and cache invalidation.  Flush order and pruning have files of
-- their own.
CREATE TABLE shelf (id int PRIMARY KEY, book_count int, tx_count int);
CREATE TABLE book (id serial PRIMARY KEY, shelf_id int REFERENCES shelf ON DELETE CASCADE,
                   pages int CHECK (pages > 0));
INSERT INTO shelf SELECT g, 0, 0 FROM generate_series(1, 5) g;
SELECT counterfield.add_counter('shelf', 'book_count', 'book');
SELECT counterfield.add_counter('shelf', 'tx_count', 'book', flush => 'transaction');
CREATE VIEW check_shelf AS
  SELECT mismatches('shelf', 'book_count', 'book', 'shelf_id')
       + mismatches('shelf', 'tx_count', 'book', 'shelf_id') AS mismatches,
         (SELECT string_agg(format('%s:%s/%s', id, book_count, tx_count), ' ' ORDER BY id)
            FROM shelf) AS counts;
-- every UPDATE of a shelf, in the order they happen
CREATE TABLE shelf_log (seq serial, shelf_id int, book_changed bool, tx_changed bool);
CREATE FUNCTION log_shelf() RETURNS trigger LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    INSERT INTO shelf_log (shelf_id, book_changed, tx_changed)
      VALUES (NEW.id, to_jsonb(NEW)->'book_count' IS DISTINCT FROM to_jsonb(OLD)->'book_count',
              to_jsonb(NEW)->'tx_count' IS DISTINCT FROM to_jsonb(OLD)->'tx_count');
    RETURN NULL;
END $$;
CREATE TRIGGER log_shelf AFTER UPDATE ON shelf FOR EACH ROW EXECUTE FUNCTION log_shelf();

-- a new backend whose first counted write is inside a savepoint (the module
-- is loaded there): released savepoints keep their deltas, rolled-back ones not
\c
BEGIN;
SAVEPOINT outer_sp;
SAVEPOINT inner_sp;
INSERT INTO book (shelf_id, pages) VALUES (1, 1), (2, 1);
RELEASE SAVEPOINT inner_sp;
SAVEPOINT other_sp;
INSERT INTO book (shelf_id, pages) VALUES (3, 1);
ROLLBACK TO SAVEPOINT other_sp;
RELEASE SAVEPOINT outer_sp;
SELECT parent_key, delta, stale FROM counterfield.tracked_states(false) ORDER BY 1, 3;
COMMIT;
SELECT * FROM check_shelf;
DELETE FROM book;
SELECT * FROM check_shelf;
TRUNCATE shelf_log;

-- statement mode: one UPDATE per distinct parent, in ascending key order;
-- transaction mode: deltas wait for the commit
BEGIN;
INSERT INTO book (shelf_id, pages) SELECT 1 + (g * 3) % 5, 10 FROM generate_series(1, 1000) g;
SELECT shelf_id, book_changed, tx_changed FROM shelf_log ORDER BY seq;
SELECT * FROM check_shelf;
SELECT parent, counter_column, parent_key, delta, stale FROM counterfield.tracked_states() ORDER BY 3;
SELECT counterfield.has_tracked_states();
INSERT INTO book (shelf_id, pages) VALUES (5, 1), (4, 1);
INSERT INTO book (shelf_id, pages) VALUES (4, 1);
DELETE FROM book WHERE id = 1;
SELECT parent, counter_column, parent_key, delta, stale FROM counterfield.tracked_states() ORDER BY 3;
TRUNCATE shelf_log;
COMMIT;
-- at commit: one UPDATE per parent, in key order
SELECT shelf_id, book_changed, tx_changed FROM shelf_log ORDER BY seq;
SELECT * FROM check_shelf;
SELECT counterfield.has_tracked_states();

-- an ORM-style transaction of single-row statements updates the parent once
TRUNCATE shelf_log;
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (2, 1);
INSERT INTO book (shelf_id, pages) VALUES (2, 1);
INSERT INTO book (shelf_id, pages) VALUES (2, 1);
DELETE FROM book WHERE id = (SELECT max(id) FROM book);
COMMIT;
SELECT count(*) FILTER (WHERE tx_changed) AS tx_updates,
       count(*) FILTER (WHERE book_changed) AS statement_updates FROM shelf_log;
SELECT * FROM check_shelf;
-- deltas that cancel out write nothing at commit
TRUNCATE shelf_log;
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (3, 1);
DELETE FROM book WHERE id = (SELECT max(id) FROM book);
SELECT parent_key, delta FROM counterfield.tracked_states();
COMMIT;
SELECT count(*) FILTER (WHERE tx_changed) AS tx_updates,
       count(*) FILTER (WHERE book_changed) AS statement_updates FROM shelf_log;

-- ROLLBACK leaves stale state: shown unpruned, never applied, pruned next time
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (1, 1), (2, 1);
ROLLBACK;
SELECT parent, counter_column, parent_key, delta, stale
  FROM counterfield.tracked_states(prune => false) ORDER BY 3;
SELECT parent_key, delta, stale FROM counterfield.tracked_states();
SELECT parent_key, delta, stale FROM counterfield.tracked_states(prune => false);
SELECT * FROM check_shelf;
-- ... or by the next write, of any counter
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (1, 1);
ROLLBACK;
SELECT count(*) AS stale_entries FROM counterfield.tracked_states(false) WHERE stale;
INSERT INTO book (shelf_id, pages) VALUES (3, 1);
SELECT count(*) AS entries FROM counterfield.tracked_states(false);
SELECT * FROM check_shelf;

-- savepoints: a rolled-back savepoint loses exactly its own deltas
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (1, 1);
SAVEPOINT a;
INSERT INTO book (shelf_id, pages) VALUES (1, 1), (2, 1);
SAVEPOINT b;
INSERT INTO book (shelf_id, pages) VALUES (1, 1), (3, 1);
ROLLBACK TO SAVEPOINT b;
SELECT parent_key, delta, stale FROM counterfield.tracked_states(false) ORDER BY 1, 3;
INSERT INTO book (shelf_id, pages) VALUES (4, 1);
RELEASE SAVEPOINT a;
SAVEPOINT c;
DELETE FROM book WHERE shelf_id = 2;
SAVEPOINT d;
INSERT INTO book (shelf_id, pages) VALUES (5, 1);
RELEASE SAVEPOINT d;
ROLLBACK TO SAVEPOINT c;
INSERT INTO book (shelf_id, pages) VALUES (5, 1);
SELECT parent_key, delta FROM counterfield.tracked_states() ORDER BY 1;
COMMIT;
SELECT * FROM check_shelf;
SELECT counterfield.has_tracked_states();

-- many savepoints around writes to one parent, as ORMs nest them
BEGIN;
DO $$
BEGIN
    FOR i IN 1..50 LOOP
        BEGIN
            INSERT INTO book (shelf_id, pages) VALUES (2, CASE WHEN i % 5 = 0 THEN 0 ELSE 1 END);
        EXCEPTION WHEN check_violation THEN
            NULL;
        END;
    END LOOP;
END $$;
SELECT parent_key, delta FROM counterfield.tracked_states() ORDER BY 1;
COMMIT;
SELECT * FROM check_shelf;

-- plpgsql exception blocks behave like savepoints
BEGIN;
DO $$
BEGIN
    INSERT INTO book (shelf_id, pages) VALUES (3, 1);
    BEGIN
        INSERT INTO book (shelf_id, pages) VALUES (3, 1), (4, 1);
        RAISE EXCEPTION 'undo';
    EXCEPTION WHEN raise_exception THEN
        INSERT INTO book (shelf_id, pages) VALUES (5, 1);
    END;
END $$;
SELECT parent_key, delta FROM counterfield.tracked_states() ORDER BY 1;
COMMIT;
SELECT * FROM check_shelf;

-- an error in the middle of a statement applies nothing
INSERT INTO book (shelf_id, pages) VALUES (1, 5), (2, 5), (3, 0);
SELECT * FROM check_shelf;
SELECT counterfield.has_tracked_states();
-- an error in a user trigger that fires after counterfield's
CREATE FUNCTION fail_big() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM new_rows WHERE pages > 1000) THEN
        RAISE EXCEPTION 'too big';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER zzz_fail_big AFTER INSERT ON book REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION fail_big();
INSERT INTO book (shelf_id, pages) VALUES (1, 5), (2, 5000);
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (4, 5);
SAVEPOINT s;
INSERT INTO book (shelf_id, pages) VALUES (1, 5), (2, 5000);
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT * FROM check_shelf;
SELECT counterfield.has_tracked_states();
DROP TRIGGER zzz_fail_big ON book;

-- nested statements: a trigger on the child writes more children
CREATE FUNCTION add_sequel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.pages < 3 THEN
        INSERT INTO book (shelf_id, pages) VALUES (NEW.shelf_id % 5 + 1, NEW.pages + 1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER add_sequel AFTER INSERT ON book FOR EACH ROW EXECUTE FUNCTION add_sequel();
INSERT INTO book (shelf_id, pages) VALUES (1, 1), (3, 2);
SELECT * FROM check_shelf;
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (5, 1);
COMMIT;
SELECT * FROM check_shelf;
DROP TRIGGER add_sequel ON book;

-- a trigger on the parent that writes children during the commit-time flush
CREATE FUNCTION shelf_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id < 5 AND NEW.tx_count > OLD.tx_count THEN
        INSERT INTO book (shelf_id, pages) VALUES (NEW.id + 1, 1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER shelf_chain AFTER UPDATE OF tx_count ON shelf FOR EACH ROW EXECUTE FUNCTION shelf_chain();
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (3, 1);
COMMIT;
SELECT * FROM check_shelf;
DROP TRIGGER shelf_chain ON shelf;

-- a new parent in transaction mode counts what is already there, once
ALTER TABLE book DROP CONSTRAINT book_shelf_id_fkey;
SELECT counterfield.drop_counter('shelf', 'tx_count');
SELECT counterfield.add_counter('shelf', 'tx_count', 'book', fk_columns => '{shelf_id}',
                                parent_columns => '{id}', flush => 'transaction');
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (6, 1), (6, 1);
INSERT INTO shelf VALUES (6, 0, 0);
INSERT INTO book (shelf_id, pages) VALUES (6, 1);
SELECT * FROM shelf WHERE id = 6;
COMMIT;
SELECT * FROM check_shelf;

-- reinit and TRUNCATE inside a transaction cancel the pending deltas
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (1, 1), (2, 1);
SELECT counterfield.reinit('shelf', 'tx_count');
INSERT INTO book (shelf_id, pages) VALUES (2, 1);
COMMIT;
SELECT * FROM check_shelf;
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (1, 1), (2, 1);
SAVEPOINT t;
TRUNCATE book;
INSERT INTO book (shelf_id, pages) VALUES (3, 1);
ROLLBACK TO SAVEPOINT t;
INSERT INTO book (shelf_id, pages) VALUES (4, 1);
COMMIT;
SELECT * FROM check_shelf;
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (1, 1);
TRUNCATE book;
INSERT INTO book (shelf_id, pages) VALUES (3, 1), (3, 1);
COMMIT;
SELECT * FROM check_shelf;

-- DDL between statements of one transaction invalidates the cache
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (1, 1);
ALTER TABLE book ADD COLUMN title text;
INSERT INTO book (shelf_id, pages, title) VALUES (1, 1, 'x');
ALTER TABLE shelf RENAME COLUMN tx_count TO tx_total;
INSERT INTO book (shelf_id, pages) VALUES (2, 1);
COMMIT;
ALTER TABLE shelf RENAME COLUMN tx_total TO tx_count;
SELECT * FROM check_shelf;
-- drop_counter with pending deltas: the dropped counter is not applied at commit
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (5, 1);
SELECT counterfield.drop_counter('shelf', 'tx_count');
INSERT INTO book (shelf_id, pages) VALUES (5, 1);
COMMIT;
SELECT id, book_count, tx_count FROM shelf WHERE id = 5;
SELECT mismatches('shelf', 'book_count', 'book', 'shelf_id');
SELECT counterfield.has_tracked_states();
SELECT counterfield.add_counter('shelf', 'tx_count', 'book', fk_columns => '{shelf_id}',
                                parent_columns => '{id}', flush => 'transaction');

-- a session that switches roles or search_path between writes
CREATE ROLE counterfield_writer;
GRANT INSERT, DELETE, SELECT ON book TO counterfield_writer;
GRANT USAGE ON SEQUENCE book_id_seq TO counterfield_writer;
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (1, 1);
SET LOCAL ROLE counterfield_writer;
INSERT INTO book (shelf_id, pages) VALUES (1, 1), (2, 1);
SET LOCAL search_path = pg_catalog;
INSERT INTO public.book (shelf_id, pages) VALUES (2, 1);
RESET ROLE;
COMMIT;
SELECT * FROM check_shelf;
REVOKE ALL ON book FROM counterfield_writer;
REVOKE ALL ON SEQUENCE book_id_seq FROM counterfield_writer;
DROP ROLE counterfield_writer;

-- many parents: 10000 rows over 100 parents are 100 parent updates
INSERT INTO shelf SELECT g, 0, 0 FROM generate_series(100, 199) g;
TRUNCATE shelf_log;
INSERT INTO book (shelf_id, pages) SELECT 100 + g % 100, 1 FROM generate_series(1, 10000) g;
SELECT count(*) FILTER (WHERE book_changed) AS statement_updates,
       count(*) FILTER (WHERE tx_changed) AS tx_updates FROM shelf_log;
TRUNCATE shelf_log;
BEGIN;
INSERT INTO book (shelf_id, pages) SELECT 100 + g % 100, 1 FROM generate_series(1, 5000) g;
INSERT INTO book (shelf_id, pages) SELECT 100 + g % 100, 1 FROM generate_series(1, 5000) g;
COMMIT;
SELECT count(*) FILTER (WHERE tx_changed) AS tx_updates,
       count(DISTINCT shelf_id) FILTER (WHERE tx_changed) AS parents FROM shelf_log;
SELECT * FROM check_shelf \gset
SELECT :mismatches AS mismatches;
SELECT counterfield.has_tracked_states();

DROP VIEW check_shelf;
DROP TABLE book, shelf, shelf_log;
DROP FUNCTION log_shelf(), fail_big(), add_sequel(), shelf_chain();
