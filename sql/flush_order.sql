-- Flush order: a batch of many parent keys is one UPDATE that visits them
-- in key order, and keys of every integer width sort by value.

-- a batch (8 parent keys or more) is one UPDATE that visits the parents in
-- key order; where the planner would visit them in another order (here with
-- nested loops off, when the plan is made), the parents are locked in key
-- order first
CREATE TABLE rack (id int PRIMARY KEY, box_count int NOT NULL DEFAULT 0);
CREATE TABLE box (id serial PRIMARY KEY, rack_id int REFERENCES rack);
INSERT INTO rack (id) SELECT g FROM generate_series(1, 20) g;
SELECT counterfield.add_counter('rack', 'box_count', 'box');
CREATE TABLE rack_log (seq serial, rack_id int);
CREATE FUNCTION log_rack() RETURNS trigger LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    INSERT INTO rack_log (rack_id) VALUES (NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER log_rack AFTER UPDATE ON rack FOR EACH ROW EXECUTE FUNCTION log_rack();
INSERT INTO box (rack_id) SELECT 1 + (g * 7) % 20 FROM generate_series(1, 100) g;
SELECT string_agg(rack_id::text, ' ' ORDER BY seq) AS updates FROM rack_log;
SELECT mismatches('rack', 'box_count', 'box', 'rack_id');
\c
SET enable_nestloop = off;
TRUNCATE rack_log;
INSERT INTO box (rack_id) SELECT 1 + (g * 3) % 20 FROM generate_series(1, 100) g;
DELETE FROM box WHERE id % 3 = 0;
SELECT count(*) AS updates, count(DISTINCT rack_id) AS racks FROM rack_log;
SELECT mismatches('rack', 'box_count', 'box', 'rack_id');
RESET enable_nestloop;
DROP TABLE box, rack, rack_log;
DROP FUNCTION log_rack();

-- a flush of many keys sorts them by value: integer keys of every width,
-- negative and past 2^31 for oid, with two counters per key
CREATE TABLE key_log (seq serial, k numeric);
CREATE FUNCTION log_key() RETURNS trigger LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    INSERT INTO key_log (k) VALUES (NEW.id::text::numeric);
    RETURN NULL;
END $$;
CREATE VIEW key_order AS
  SELECT count(*) AS updates, array_agg(k ORDER BY seq) = array_agg(k ORDER BY k) AS in_key_order
    FROM key_log;
CREATE TABLE p2 (id smallint PRIMARY KEY, n int, odd int);
CREATE TABLE p4 (id int PRIMARY KEY, n int, odd int);
CREATE TABLE p8 (id bigint PRIMARY KEY, n int, odd int);
CREATE TABLE po (id oid PRIMARY KEY, n int, odd int);
INSERT INTO p2 SELECT g FROM generate_series(-320, 320, 5) g UNION VALUES (-32768), (32767);
INSERT INTO p4 SELECT g FROM generate_series(-2000000000, 2000000000, 40000000) g;
INSERT INTO p8 SELECT g FROM generate_series(-4000000000000000000, 4000000000000000000,
                                            100000000000000000) g
  UNION VALUES (-9223372036854775808), (9223372036854775807);
INSERT INTO po SELECT g::oid FROM generate_series(0, 4294967295, 50000000) g
  UNION VALUES (4294967295);
CREATE TABLE c2 (p smallint REFERENCES p2, x int);
CREATE TABLE c4 (p int REFERENCES p4, x int);
CREATE TABLE c8 (p bigint REFERENCES p8, x int);
CREATE TABLE co (p oid REFERENCES po, x int);
SELECT counterfield.add_counter(t, 'n', c), counterfield.add_counter(t, 'odd', c, condition => 'x % 2 = 1')
  FROM (VALUES ('p2'::regclass, 'c2'::regclass), ('p4', 'c4'), ('p8', 'c8'), ('po', 'co')) v(t, c);
CREATE TRIGGER log_key AFTER UPDATE ON p2 FOR EACH ROW EXECUTE FUNCTION log_key();
CREATE TRIGGER log_key AFTER UPDATE ON p4 FOR EACH ROW EXECUTE FUNCTION log_key();
CREATE TRIGGER log_key AFTER UPDATE ON p8 FOR EACH ROW EXECUTE FUNCTION log_key();
CREATE TRIGGER log_key AFTER UPDATE ON po FOR EACH ROW EXECUTE FUNCTION log_key();
INSERT INTO c2 SELECT id, g FROM p2, generate_series(1, 3) g ORDER BY md5(id::text || g);
SELECT * FROM key_order;
TRUNCATE key_log;
INSERT INTO c4 SELECT id, g FROM p4, generate_series(1, 3) g ORDER BY md5(id::text || g);
SELECT * FROM key_order;
TRUNCATE key_log;
INSERT INTO c8 SELECT id, g FROM p8, generate_series(1, 3) g ORDER BY md5(id::text || g);
SELECT * FROM key_order;
TRUNCATE key_log;
INSERT INTO co SELECT id, g FROM po, generate_series(1, 3) g ORDER BY md5(id::text || g);
SELECT * FROM key_order;
SELECT mismatches('p2', 'n', 'c2', 'p') + mismatches('p4', 'n', 'c4', 'p')
     + mismatches('p8', 'n', 'c8', 'p') + mismatches('po', 'n', 'co', 'p') AS mismatches;
SELECT mismatches('p2', 'odd', 'c2', 'p', 'id', 'x % 2 = 1')
     + mismatches('p4', 'odd', 'c4', 'p', 'id', 'x % 2 = 1')
     + mismatches('p8', 'odd', 'c8', 'p', 'id', 'x % 2 = 1')
     + mismatches('po', 'odd', 'co', 'p', 'id', 'x % 2 = 1') AS odd_mismatches;
SELECT * FROM counterfield.verify();
DROP TABLE c2, c4, c8, co, p2, p4, p8, po, key_log CASCADE;
DROP FUNCTION log_key();
