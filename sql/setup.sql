-- Helpers shared by the regression tests: truth is always count(*).
-- Runs first (REGRESS in the Makefile); every later file may rely on what
-- it leaves in the database: the extension installed (by pg_regress's
-- --load-extension), the function mismatches(), the table parent_updates
-- with the trigger function note_update(), and make_shelves() and
-- drop_shelves(), which create and remove the shelf fixture.

-- Number of parent rows whose counter differs from count(*) of its children.
CREATE FUNCTION mismatches(parent regclass, counter text, child regclass, fk text,
                           pk text DEFAULT 'id', cond text DEFAULT 'true')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %s p WHERE p.%I IS DISTINCT FROM '
                   '(SELECT count(*) FROM %s c WHERE c.%I = p.%I AND (%s))',
                   parent, counter, child, fk, pk, cond) INTO n;
    RETURN n;
END
$$;

-- Counts UPDATEs of a parent table, to prove which writes touch parents.
CREATE TABLE parent_updates (tbl text, n bigint);
CREATE FUNCTION note_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE parent_updates SET n = n + 1 WHERE tbl = TG_TABLE_NAME;
    IF NOT FOUND THEN
        INSERT INTO parent_updates VALUES (TG_TABLE_NAME, 1);
    END IF;
    RETURN NULL;
END
$$;

-- The shelf fixture of savepoints, transaction_mode and invalidation:
-- shelves with a statement-mode counter (book_count) and a transaction-mode
-- one (tx_count) of their books, the view check_shelf (mismatches with
-- count(*), and every shelf's counts), and shelf_log, which records every
-- UPDATE of a shelf and which counters it changed.  drop_shelves() removes it.
CREATE FUNCTION make_shelves() RETURNS void LANGUAGE plpgsql AS $fixture$
BEGIN
    CREATE TABLE shelf (id int PRIMARY KEY, book_count int, tx_count int);
    CREATE TABLE book (id serial PRIMARY KEY, shelf_id int REFERENCES shelf ON DELETE CASCADE,
                       pages int CHECK (pages > 0));
    INSERT INTO shelf SELECT g, 0, 0 FROM generate_series(1, 5) g;
    PERFORM counterfield.add_counter('shelf', 'book_count', 'book');
    PERFORM counterfield.add_counter('shelf', 'tx_count', 'book', flush => 'transaction');
    CREATE VIEW check_shelf AS
      SELECT mismatches('shelf', 'book_count', 'book', 'shelf_id')
           + mismatches('shelf', 'tx_count', 'book', 'shelf_id') AS mismatches,
             (SELECT string_agg(format('%s:%s/%s', id, book_count, tx_count), ' ' ORDER BY id)
                FROM shelf) AS counts;
    CREATE TABLE shelf_log (seq serial, shelf_id int, book_changed bool, tx_changed bool);
    CREATE FUNCTION log_shelf() RETURNS trigger LANGUAGE plpgsql SET search_path = public AS $$
    BEGIN
        INSERT INTO shelf_log (shelf_id, book_changed, tx_changed)
          VALUES (NEW.id, to_jsonb(NEW)->'book_count' IS DISTINCT FROM to_jsonb(OLD)->'book_count',
                  to_jsonb(NEW)->'tx_count' IS DISTINCT FROM to_jsonb(OLD)->'tx_count');
        RETURN NULL;
    END $$;
    CREATE TRIGGER log_shelf AFTER UPDATE ON shelf FOR EACH ROW EXECUTE FUNCTION log_shelf();
END
$fixture$;
CREATE FUNCTION drop_shelves() RETURNS void LANGUAGE plpgsql AS $fixture$
BEGIN
    DROP VIEW check_shelf;
    DROP TABLE book, shelf, shelf_log;
    DROP FUNCTION log_shelf();
END
$fixture$;

SELECT extname, extversion FROM pg_extension WHERE extname = 'counterfield';
