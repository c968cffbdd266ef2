-- One parent row changed by a statement is updated without an UPDATE
-- statement where the parent allows it; everything an UPDATE statement
-- honours still holds.
CREATE TABLE dp (id int PRIMARY KEY, n int CHECK (n <= 3), m bigint, tag text);
CREATE TABLE dc (id serial PRIMARY KEY, dp_id int REFERENCES dp);
CREATE INDEX ON dc (dp_id);
SELECT counterfield.add_counter('dp', 'n', 'dc');
SELECT counterfield.add_counter('dp', 'm', 'dc', flush => 'transaction');
INSERT INTO dp VALUES (1, 0, 0), (2, 0, 0), (3, NULL, 0);
CREATE VIEW dp_check AS
SELECT p.id, p.n, p.m, (SELECT count(*) FROM dc c WHERE c.dp_id = p.id) AS truth
  FROM dp p ORDER BY p.id;

-- column-specific AFTER row triggers with WHEN see the change
CREATE TABLE dp_log (id int, old_n int, new_n int, old_m bigint, new_m bigint);
CREATE FUNCTION dp_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.dp_log VALUES (NEW.id, OLD.n, NEW.n, OLD.m, NEW.m);
    RETURN NULL;
END $$;
CREATE TRIGGER dp_n AFTER UPDATE OF n ON dp FOR EACH ROW
    WHEN (OLD.n IS DISTINCT FROM NEW.n) EXECUTE FUNCTION dp_log();
CREATE TRIGGER dp_tag AFTER UPDATE OF tag ON dp FOR EACH ROW EXECUTE FUNCTION dp_log();
INSERT INTO dc (dp_id) VALUES (1);
INSERT INTO dc (dp_id) VALUES (2);
SELECT * FROM dp_log ORDER BY id, new_n, new_m;
SELECT * FROM dp_check;

-- a NULL counter stays NULL
INSERT INTO dc (dp_id) VALUES (3);
SELECT * FROM dp_check;

-- CHECK constraints
INSERT INTO dc (dp_id) VALUES (1), (1);
INSERT INTO dc (dp_id) VALUES (1);
SELECT * FROM dp_check;

-- the row as updated earlier in the transaction, and by the triggers
BEGIN;
UPDATE dp SET tag = 'x' WHERE id = 2;
INSERT INTO dc (dp_id) VALUES (2);
SELECT id, n, tag FROM dp WHERE id = 2;
COMMIT;
SELECT * FROM dp_check;

-- a deferred unique key may hold two rows of one key for a while: both are
-- updated, as an UPDATE statement would
CREATE TABLE du (id int, n int NOT NULL DEFAULT 0, CONSTRAINT du_id UNIQUE (id) DEFERRABLE);
CREATE TABLE duc (du_id int);
CREATE INDEX ON duc (du_id);
SELECT counterfield.add_counter('du', 'n', 'duc', fk_columns => '{du_id}',
                                parent_columns => '{id}');
INSERT INTO du VALUES (1);
BEGIN;
SET CONSTRAINTS du_id DEFERRED;
INSERT INTO du VALUES (1);
INSERT INTO duc VALUES (1);
SELECT id, n FROM du;
ROLLBACK;

-- a published parent without a replica identity cannot be updated
CREATE TABLE np (id int NOT NULL, n int NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX ON np (id);
CREATE TABLE nc (np_id int);
CREATE INDEX ON nc (np_id);
SELECT counterfield.add_counter('np', 'n', 'nc', fk_columns => '{np_id}',
                                parent_columns => '{id}');
INSERT INTO np VALUES (1);
SET client_min_messages = error;
CREATE PUBLICATION np_pub FOR TABLE np;
RESET client_min_messages;
INSERT INTO nc VALUES (1);
DROP PUBLICATION np_pub;
INSERT INTO nc VALUES (1);
SELECT n, (SELECT count(*) FROM nc) AS truth FROM np;

SELECT * FROM counterfield.verify();
SELECT counterfield.drop_counter('dp', 'n');
SELECT counterfield.drop_counter('dp', 'm');
SELECT counterfield.drop_counter('du', 'n');
SELECT counterfield.drop_counter('np', 'n');
DROP VIEW dp_check;
DROP TABLE dc, dp, dp_log, du, duc, np, nc;
DROP FUNCTION dp_log();
