-- Rules for the parent table: the counter column's type, the parent's
-- BEFORE UPDATE triggers, and the order of its BEFORE row triggers.
CREATE TABLE shelf (id int PRIMARY KEY, book_count int, archived bool NOT NULL DEFAULT false);
CREATE TABLE book (id serial PRIMARY KEY, shelf_id int REFERENCES shelf);
CREATE INDEX ON book (shelf_id);
INSERT INTO shelf (id) VALUES (1), (2);
INSERT INTO book (shelf_id) VALUES (1), (2), (2);
SELECT counterfield.add_counter('shelf', 'book_count', 'book');

-- the counter column keeps a type that holds a count: widening is followed,
-- any other type is refused, also down an inheritance tree
ALTER TABLE shelf ALTER COLUMN book_count TYPE numeric;
ALTER TABLE shelf ALTER COLUMN book_count TYPE double precision;
ALTER TABLE shelf ALTER COLUMN book_count TYPE text;
ALTER TABLE shelf ALTER COLUMN book_count TYPE bigint USING book_count * 10;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'shelf'::regclass AND attname = 'book_count';
INSERT INTO shelf (id, book_count) VALUES (3, 7);
INSERT INTO book (shelf_id) VALUES (3), (3), (1);
SELECT * FROM shelf ORDER BY id;
SELECT mismatches('shelf', 'book_count', 'book', 'shelf_id');
ALTER TABLE shelf ALTER COLUMN book_count TYPE smallint;
SELECT mismatches('shelf', 'book_count', 'book', 'shelf_id');
CREATE TABLE shelf_base (id int, book_count int);
CREATE TABLE tall_shelf (LIKE shelf_base, PRIMARY KEY (id)) INHERITS (shelf_base);
CREATE TABLE tall_book (id serial, tall_shelf_id int REFERENCES tall_shelf);
SELECT counterfield.add_counter('tall_shelf', 'book_count', 'tall_book');
ALTER TABLE shelf_base ALTER COLUMN book_count TYPE numeric;
INSERT INTO tall_shelf VALUES (1, 5);
INSERT INTO tall_book (tall_shelf_id) VALUES (1);
SELECT * FROM tall_shelf;
SELECT counterfield.drop_counter('tall_shelf', 'book_count');
DROP TABLE tall_book, tall_shelf, shelf_base;
-- and through the composite type of a typed table
CREATE TYPE shelf_type AS (id int, book_count int);
CREATE TABLE typed_shelf OF shelf_type (PRIMARY KEY (id));
CREATE TABLE typed_book (id serial, typed_shelf_id int REFERENCES typed_shelf);
CREATE INDEX ON typed_book (typed_shelf_id);
INSERT INTO typed_shelf VALUES (1, NULL);
INSERT INTO typed_book (typed_shelf_id) VALUES (1), (1);
SELECT counterfield.add_counter('typed_shelf', 'book_count', 'typed_book');
ALTER TYPE shelf_type ALTER ATTRIBUTE book_count TYPE numeric CASCADE;
ALTER TYPE shelf_type ALTER ATTRIBUTE book_count TYPE bigint CASCADE;
INSERT INTO typed_shelf VALUES (2, 5);
INSERT INTO typed_book (typed_shelf_id) VALUES (1), (2);
SELECT * FROM typed_shelf ORDER BY id;
SELECT mismatches('typed_shelf', 'book_count', 'typed_book', 'typed_shelf_id');
DROP TABLE typed_book, typed_shelf;
DROP TYPE shelf_type;

-- a BEFORE UPDATE trigger that returns NULL for counterfield's update
-- ("archived shelves are frozen") is an error, not a lost change: in both
-- flush modes, for many keys at once, for TRUNCATE and for reinit
CREATE FUNCTION freeze_archived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.archived AND NEW.archived THEN RETURN NULL; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER freeze_archived BEFORE UPDATE ON shelf
  FOR EACH ROW EXECUTE FUNCTION freeze_archived();
UPDATE shelf SET archived = true WHERE id = 1;
INSERT INTO book (shelf_id) VALUES (1);
INSERT INTO book (shelf_id) VALUES (2);
INSERT INTO book (shelf_id) SELECT 1 + g % 3 FROM generate_series(1, 30) g;
DELETE FROM book WHERE shelf_id = 1;
-- also when a rule's action on another table runs first
CREATE TABLE shelf_audit (k int PRIMARY KEY, hits int NOT NULL DEFAULT 0);
INSERT INTO shelf_audit VALUES (1);
CREATE RULE shelf_audit AS ON UPDATE TO shelf
  DO ALSO UPDATE shelf_audit SET hits = hits + 1 WHERE k = 1;
INSERT INTO book (shelf_id) VALUES (1);
INSERT INTO book (shelf_id) VALUES (2);
SELECT hits FROM shelf_audit;
DROP RULE shelf_audit ON shelf;
DROP TABLE shelf_audit;
TRUNCATE book;
ALTER TABLE shelf DISABLE TRIGGER freeze_archived;
UPDATE shelf SET book_count = NULL;
ALTER TABLE shelf ENABLE TRIGGER freeze_archived;
SELECT counterfield.reinit('shelf', 'book_count');
SELECT * FROM shelf ORDER BY id;
ALTER TABLE shelf DISABLE TRIGGER freeze_archived;
SELECT counterfield.reinit('shelf', 'book_count');
ALTER TABLE shelf ENABLE TRIGGER freeze_archived;
SELECT * FROM shelf ORDER BY id;
SELECT mismatches('shelf', 'book_count', 'book', 'shelf_id');
SELECT counterfield.drop_counter('shelf', 'book_count');
SELECT counterfield.add_counter('shelf', 'book_count', 'book', flush => 'transaction');
BEGIN;
INSERT INTO book (shelf_id) VALUES (1), (2);
COMMIT;
SELECT * FROM shelf ORDER BY id;
SELECT mismatches('shelf', 'book_count', 'book', 'shelf_id');
-- a trigger that lets counter-only changes through keeps counting
CREATE OR REPLACE FUNCTION freeze_archived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.archived AND NEW.archived
     AND (NEW.id, NEW.archived) IS DISTINCT FROM (OLD.id, OLD.archived) THEN
    RETURN NULL;
  END IF;
  RETURN NEW;
END $$;
BEGIN;
INSERT INTO book (shelf_id) VALUES (1), (2), (3), (1);
COMMIT;
INSERT INTO book (shelf_id) SELECT 1 + g % 3 FROM generate_series(1, 30) g;
SELECT * FROM shelf ORDER BY id;
SELECT mismatches('shelf', 'book_count', 'book', 'shelf_id');
-- counterfield's update fires the guard first only for the count: a
-- trigger on the parent that writes the same table meanwhile is not counted
-- as skipped
CREATE FUNCTION touch_neighbour() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id = 2 THEN
    UPDATE shelf SET archived = archived WHERE id = 3;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER touch_neighbour BEFORE UPDATE ON shelf
  FOR EACH ROW EXECUTE FUNCTION touch_neighbour();
INSERT INTO book (shelf_id) VALUES (2);
INSERT INTO book (shelf_id) SELECT 1 + g % 3 FROM generate_series(1, 30) g;
SELECT mismatches('shelf', 'book_count', 'book', 'shelf_id');
DROP TRIGGER touch_neighbour ON shelf;
DROP TRIGGER freeze_archived ON shelf;
-- a trigger that gives the row back with its old counter values loses the
-- change too ("archived rows keep their values"); one that changes other
-- columns of it changes nothing counterfield needs
CREATE FUNCTION keep_archived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.archived THEN RETURN OLD; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER keep_archived BEFORE UPDATE ON shelf
  FOR EACH ROW EXECUTE FUNCTION keep_archived();
ALTER TABLE shelf ADD COLUMN touched int NOT NULL DEFAULT 0;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.touched := OLD.touched + 1; RETURN NEW; END $$;
CREATE TRIGGER touch BEFORE UPDATE ON shelf FOR EACH ROW EXECUTE FUNCTION touch();
INSERT INTO book (shelf_id) VALUES (1);
INSERT INTO book (shelf_id) VALUES (2), (2), (3);
SELECT id, book_count, touched FROM shelf ORDER BY id;
SELECT mismatches('shelf', 'book_count', 'book', 'shelf_id');
-- also in an update of many rows at once, one of them a NULL counter that
-- no delta changes; and a trigger that changes a counter that this update
-- leaves as it was
CREATE TABLE shelf_many (id int PRIMARY KEY, n int, m int, archived bool NOT NULL DEFAULT false);
CREATE TABLE book_many (id serial, shelf_many_id int REFERENCES shelf_many, big bool NOT NULL DEFAULT false);
CREATE INDEX ON book_many (shelf_many_id);
INSERT INTO shelf_many (id) SELECT generate_series(1, 8);
SELECT counterfield.add_counter('shelf_many', 'n', 'book_many');
SELECT counterfield.add_counter('shelf_many', 'm', 'book_many', condition => 'big');
CREATE TRIGGER skip_archived BEFORE UPDATE ON shelf_many
  FOR EACH ROW EXECUTE FUNCTION freeze_archived();
ALTER TABLE shelf_many DISABLE TRIGGER skip_archived;
UPDATE shelf_many SET n = NULL WHERE id = 1;
UPDATE shelf_many SET archived = true WHERE id = 2;
ALTER TABLE shelf_many ENABLE TRIGGER skip_archived;
CREATE OR REPLACE FUNCTION freeze_archived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.archived AND NEW.archived THEN RETURN NULL; END IF;
  RETURN NEW;
END $$;
INSERT INTO book_many (shelf_many_id) SELECT generate_series(1, 8);
DROP TRIGGER skip_archived ON shelf_many;
CREATE FUNCTION set_m() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.m := 99; RETURN NEW; END $$;
CREATE TRIGGER set_m BEFORE UPDATE ON shelf_many FOR EACH ROW EXECUTE FUNCTION set_m();
INSERT INTO book_many (shelf_many_id, big) VALUES (3, false);
DROP TRIGGER set_m ON shelf_many;
-- also where counterfield's update changes nothing (a NULL counter)
CREATE FUNCTION zero_n() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.n := coalesce(NEW.n, 0); RETURN NEW; END $$;
CREATE TRIGGER zero_n BEFORE UPDATE ON shelf_many FOR EACH ROW EXECUTE FUNCTION zero_n();
INSERT INTO book_many (shelf_many_id) VALUES (1);
DROP FUNCTION zero_n() CASCADE;
-- or a key column
CREATE FUNCTION bump_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.id := NEW.id + 100; RETURN NEW; END $$;
CREATE TRIGGER bump_id BEFORE UPDATE ON shelf_many FOR EACH ROW EXECUTE FUNCTION bump_id();
INSERT INTO book_many (shelf_many_id) VALUES (3);
DROP FUNCTION bump_id() CASCADE;
-- the parent's unique index must compare keys as counterfield does: with
-- the type's equality, under the column's collation where that is
-- nondeterministic (any deterministic collation, or a pattern operator
-- class, compares equal values alike)
CREATE COLLATION parents_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE image_child (id serial, k text COLLATE parents_ci);
CREATE TABLE coll_key (k text COLLATE parents_ci, n int);
CREATE UNIQUE INDEX ON coll_key (k COLLATE "C");
SELECT counterfield.add_counter('coll_key', 'n', 'image_child', fk_columns => '{k}',
                                parent_columns => '{k}');
CREATE TABLE pattern_key (k text COLLATE "C", n int);
CREATE UNIQUE INDEX ON pattern_key (k text_pattern_ops);
SELECT counterfield.add_counter('pattern_key', 'n', 'image_child', fk_columns => '{k}',
                                parent_columns => '{k}');
INSERT INTO pattern_key VALUES ('a'), ('A');
INSERT INTO image_child (k) VALUES ('a'), ('A'), ('a');
SELECT * FROM pattern_key ORDER BY k;
CREATE TYPE key_pair AS (a numeric, b text);
CREATE TABLE pair_key (k key_pair, n int);
CREATE UNIQUE INDEX ON pair_key (k record_image_ops);
CREATE TABLE pair_child (id serial, k key_pair);
INSERT INTO pair_key VALUES (row(1.0, 'x')), (row(1.00, 'x'));
SELECT counterfield.add_counter('pair_key', 'n', 'pair_child', fk_columns => '{k}',
                                parent_columns => '{k}');
DROP TABLE image_child, coll_key, pattern_key, pair_key, pair_child;
DROP TYPE key_pair;
DROP COLLATION parents_ci;
-- a key given back equal as its type compares it is no change
CREATE TABLE price (amount numeric PRIMARY KEY, n int);
CREATE TABLE sale (id serial, amount numeric);
CREATE INDEX ON sale (amount);
INSERT INTO price VALUES (1.0), (2.50);
SELECT counterfield.add_counter('price', 'n', 'sale', fk_columns => '{amount}',
                                parent_columns => '{amount}');
CREATE FUNCTION round_amount() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.amount := round(NEW.amount, 2); RETURN NEW; END $$;
CREATE TRIGGER round_amount BEFORE UPDATE ON price FOR EACH ROW EXECUTE FUNCTION round_amount();
INSERT INTO sale (amount) VALUES (1), (1.000), (2.5);
SELECT * FROM price ORDER BY amount;
SELECT mismatches('price', 'n', 'sale', 'amount', 'amount');
DROP TABLE sale, price;
DROP FUNCTION round_amount();
SELECT mismatches('shelf_many', 'n', 'book_many', 'shelf_many_id')
  - (SELECT count(*) FROM shelf_many WHERE n IS NULL) AS mismatches;
DROP TABLE book_many, shelf_many;
DROP FUNCTION set_m();
DROP TRIGGER keep_archived ON shelf;
-- a trigger of the user's that carries a guard's former name is not taken
-- for the guard
CREATE FUNCTION skip_archived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.archived THEN RETURN NULL; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER counterfield_guard_update BEFORE UPDATE ON shelf
  FOR EACH ROW EXECUTE FUNCTION skip_archived();
INSERT INTO book (shelf_id) VALUES (1);
DROP TRIGGER counterfield_guard_update ON shelf;
DROP TRIGGER touch ON shelf;
ALTER TABLE shelf DROP COLUMN touched;
DROP FUNCTION keep_archived(), touch(), skip_archived();
-- a trigger that skips updates that change nothing skips nothing that
-- counterfield needs: a NULL counter plus a delta, a recount to the same
-- value (a parent created by a "get or create" trigger on the child)
CREATE TRIGGER z_min_update BEFORE UPDATE ON shelf
  FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
UPDATE shelf SET book_count = NULL WHERE id = 3;
INSERT INTO book (shelf_id) VALUES (3), (2);
CREATE FUNCTION shelf_get_or_create() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO shelf (id) VALUES (NEW.shelf_id) ON CONFLICT DO NOTHING;
  RETURN NEW;
END $$;
CREATE TRIGGER a_get_or_create BEFORE INSERT ON book
  FOR EACH ROW EXECUTE FUNCTION shelf_get_or_create();
INSERT INTO book (shelf_id) VALUES (21), (22), (21), (2);
SELECT * FROM shelf ORDER BY id;
SELECT mismatches('shelf', 'book_count', 'book', 'shelf_id')
  - (SELECT count(*) FROM shelf WHERE book_count IS NULL) AS mismatches;
DROP TRIGGER a_get_or_create ON book;
DROP TRIGGER z_min_update ON shelf;
DROP FUNCTION shelf_get_or_create();

-- BEFORE row triggers on a parent run in name order, and the guards
-- (zzz_counterfield_guard_insert and zzz_counterfield_guard_update) count
-- the key as it stands when they fire: their names sort after the usual
-- ones, so a trigger that changes a key column fires before them
CREATE TABLE tag (code text PRIMARY KEY, use_count int);
CREATE TABLE tagging (id serial, code text);
CREATE INDEX ON tagging (code);
SELECT counterfield.add_counter('tag', 'use_count', 'tagging',
                                fk_columns => '{code}', parent_columns => '{code}');
INSERT INTO tagging (code) VALUES ('red'), ('red'), ('blue');
CREATE FUNCTION lower_code() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.code := lower(NEW.code); RETURN NEW; END $$;
CREATE TRIGGER normalize_code BEFORE INSERT OR UPDATE ON tag
  FOR EACH ROW EXECUTE FUNCTION lower_code();
INSERT INTO tag VALUES ('RED', 5), ('Green', 5);
UPDATE tag SET code = 'BLUE' WHERE code = 'green';
SELECT * FROM tag ORDER BY code;
SELECT mismatches('tag', 'use_count', 'tagging', 'code', 'code');
-- a BEFORE row trigger named to fire after a guard is warned of
CREATE TRIGGER zzzz_late BEFORE INSERT ON tag FOR EACH ROW EXECUTE FUNCTION lower_code();
CREATE TRIGGER zzzz_late_update BEFORE UPDATE OF code ON tag
  FOR EACH ROW EXECUTE FUNCTION lower_code();
CREATE TRIGGER zzzz_after AFTER INSERT ON tag FOR EACH ROW EXECUTE FUNCTION lower_code();
CREATE TRIGGER b_early BEFORE INSERT ON tag FOR EACH ROW EXECUTE FUNCTION lower_code();
ALTER TRIGGER b_early ON tag RENAME TO zzzz_renamed;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'tag'::regclass ORDER BY 1;
-- and so is one that a counter finds in place, or that a partitioned table
-- clones onto a partition that holds counters
CREATE TABLE tag2 (code text PRIMARY KEY, use_count int);
CREATE TRIGGER zzzz_late BEFORE INSERT ON tag2 FOR EACH ROW EXECUTE FUNCTION lower_code();
SELECT counterfield.add_counter('tag2', 'use_count', 'tagging',
                                fk_columns => '{code}', parent_columns => '{code}');
CREATE TABLE tag_part (code text, use_count int) PARTITION BY LIST (code);
CREATE TABLE tag_part_a PARTITION OF tag_part FOR VALUES IN ('a');
ALTER TABLE tag_part_a ADD PRIMARY KEY (code);
SELECT counterfield.add_counter('tag_part_a', 'use_count', 'tagging',
                                fk_columns => '{code}', parent_columns => '{code}');
CREATE TRIGGER zzzz_late BEFORE INSERT ON tag_part FOR EACH ROW EXECUTE FUNCTION lower_code();
CREATE TABLE tag_part_b (code text PRIMARY KEY, use_count int);
SELECT counterfield.add_counter('tag_part_b', 'use_count', 'tagging',
                                fk_columns => '{code}', parent_columns => '{code}');
ALTER TABLE tag_part ATTACH PARTITION tag_part_b FOR VALUES IN ('b');
DROP TABLE tagging, tag, tag2, tag_part;
DROP FUNCTION lower_code();

SELECT counterfield.drop_counter('shelf', 'book_count');
DROP TABLE book, shelf;
DROP FUNCTION freeze_archived(), touch_neighbour();
