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
