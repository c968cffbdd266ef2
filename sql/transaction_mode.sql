-- Statement and transaction flush modes: when parents are written, how
-- often, in which order, and what a transaction's pending deltas become
-- through nested statements, reinit and TRUNCATE.
SELECT make_shelves();
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

SELECT drop_shelves();
DROP FUNCTION add_sequel(), shelf_chain();
