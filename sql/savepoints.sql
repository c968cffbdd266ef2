-- Savepoints and errors: a rolled-back subtransaction, exception block or
-- failed statement loses exactly its own deltas, and the stale state it
-- leaves is never applied and is pruned later.
SELECT make_shelves();
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

SELECT drop_shelves();
DROP FUNCTION fail_big();
