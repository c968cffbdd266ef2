-- DROP EXTENSION removes every trigger counterfield created, and nothing else.
CREATE TABLE lp (id int PRIMARY KEY, n int);
CREATE TABLE lc (lp_id int REFERENCES lp);
INSERT INTO lp VALUES (1);
SELECT counterfield.add_counter('lp', 'n', 'lc');
INSERT INTO lc VALUES (1), (1);
CREATE FUNCTION lc_noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE TRIGGER user_trigger AFTER INSERT ON lc FOR EACH ROW EXECUTE FUNCTION lc_noop();
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2;
DROP EXTENSION counterfield;
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2;
INSERT INTO lc VALUES (1);
SELECT * FROM lp;
-- installing it again starts from a clean catalog
CREATE EXTENSION counterfield;
SELECT count(*) FROM counterfield.counters;
SELECT counterfield.add_counter('lp', 'n', 'lc');
SELECT * FROM lp;
DROP TABLE lc, lp;
DROP FUNCTION lc_noop();

-- DROP EXTENSION in a transaction with pending transaction-mode deltas:
-- they are applied before the extension goes, and this same session can
-- install it again and count at once.
CREATE TABLE lp2 (id int PRIMARY KEY, tn int);
CREATE TABLE lc2 (lp2_id int REFERENCES lp2);
INSERT INTO lp2 VALUES (1), (2);
SELECT counterfield.add_counter('lp2', 'tn', 'lc2', flush => 'transaction');
BEGIN;
INSERT INTO lc2 VALUES (1), (1), (2);
DROP EXTENSION counterfield;
COMMIT;
SELECT * FROM lp2 ORDER BY id;
CREATE EXTENSION counterfield;
SELECT counterfield.add_counter('lp2', 'tn', 'lc2', flush => 'transaction');
INSERT INTO lc2 VALUES (2), (2);
SELECT id, tn, (SELECT count(*) FROM lc2 WHERE lc2.lp2_id = lp2.id) AS truth FROM lp2 ORDER BY id;
DROP TABLE lc2, lp2;
