-- Errors while counters are being applied: timeouts, cancellation, overflow.
-- After each, the next writes are exact and no state is left behind.
CREATE TABLE slowp (id int PRIMARY KEY, n int, tn int);
CREATE TABLE slowc (id serial PRIMARY KEY, slowp_id int REFERENCES slowp);
INSERT INTO slowp VALUES (1, 0, 0), (2, 0, 0);
SELECT counterfield.add_counter('slowp', 'n', 'slowc');
SELECT counterfield.add_counter('slowp', 'tn', 'slowc', flush => 'transaction');
CREATE VIEW check_slow AS
  SELECT mismatches('slowp', 'n', 'slowc', 'slowp_id')
       + mismatches('slowp', 'tn', 'slowc', 'slowp_id') AS mismatches,
         counterfield.has_tracked_states() AS has_states;
-- a parent trigger that makes the flush slow, or cancels it
CREATE TABLE slow_mode (mode text);
INSERT INTO slow_mode VALUES ('none');
CREATE FUNCTION slow_parent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT mode FROM slow_mode) = 'sleep' THEN
        PERFORM pg_sleep(1);
    ELSIF (SELECT mode FROM slow_mode) = 'cancel' THEN
        PERFORM pg_cancel_backend(pg_backend_pid());
        PERFORM pg_sleep(2);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER slow_parent BEFORE UPDATE ON slowp FOR EACH ROW EXECUTE FUNCTION slow_parent();

-- statement_timeout during a statement-mode flush
UPDATE slow_mode SET mode = 'sleep';
SET statement_timeout = '100ms';
INSERT INTO slowc (slowp_id) VALUES (1), (2);
RESET statement_timeout;
UPDATE slow_mode SET mode = 'none';
SELECT * FROM check_slow;
INSERT INTO slowc (slowp_id) VALUES (1), (2), (2);
SELECT * FROM check_slow;

-- PostgreSQL disarms statement_timeout before COMMIT: the commit-time flush
-- of transaction mode is not cut short, it completes
BEGIN;
INSERT INTO slowc (slowp_id) VALUES (1);
UPDATE slow_mode SET mode = 'sleep';
SET LOCAL statement_timeout = '100ms';
COMMIT;
SELECT * FROM check_slow;
UPDATE slow_mode SET mode = 'none';
INSERT INTO slowc (slowp_id) VALUES (1);
SELECT * FROM check_slow;

-- a query cancel during a flush
UPDATE slow_mode SET mode = 'cancel';
INSERT INTO slowc (slowp_id) VALUES (2);
UPDATE slow_mode SET mode = 'none';
SELECT * FROM check_slow;
BEGIN;
INSERT INTO slowc (slowp_id) VALUES (2);
UPDATE slow_mode SET mode = 'cancel';
COMMIT;
SELECT * FROM check_slow;
INSERT INTO slowc (slowp_id) VALUES (2), (1);
SELECT * FROM check_slow;
SELECT * FROM slowp ORDER BY id;

-- a counter that overflows its column fails the write, not the count
ALTER TABLE slowp ALTER COLUMN tn TYPE smallint;
UPDATE slowc SET slowp_id = 1;
INSERT INTO slowc (slowp_id) SELECT 1 FROM generate_series(1, 32767);
SELECT * FROM check_slow;
BEGIN;
INSERT INTO slowc (slowp_id) SELECT 2 FROM generate_series(1, 32768);
COMMIT;
SELECT * FROM check_slow;
SELECT * FROM slowp ORDER BY id;

DROP VIEW check_slow;
DROP TABLE slowc, slowp, slow_mode;
DROP FUNCTION slow_parent();
