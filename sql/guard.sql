-- Counter columns are guarded: only counterfield and reinit set counts.
CREATE TABLE album (id int PRIMARY KEY, title text, photo_count int);
CREATE TABLE photo (id serial PRIMARY KEY, album_id int REFERENCES album);
INSERT INTO album VALUES (1, 'a', NULL), (2, 'b', NULL);
INSERT INTO photo (album_id) VALUES (1), (1), (2);
SELECT counterfield.add_counter('album', 'photo_count', 'photo');

-- a new parent row gets its true count, whatever the INSERT said
INSERT INTO album VALUES (3, 'c', 42);
COPY album FROM stdin;
4	d	17
\.
INSERT INTO album VALUES (5, 'e', NULL);
SELECT * FROM album ORDER BY id;

-- an ORM saving a stale copy of the row keeps the stored value
UPDATE album SET title = 'A', photo_count = 0 WHERE id = 1;
UPDATE album SET photo_count = photo_count + 10;
INSERT INTO album VALUES (2, 'B', 1000) ON CONFLICT (id) DO UPDATE
  SET title = excluded.title, photo_count = excluded.photo_count;
SELECT * FROM album ORDER BY id;
SELECT mismatches('album', 'photo_count', 'photo', 'album_id');

-- writing NULL marks the value "not yet counted"; writes leave it NULL
UPDATE album SET photo_count = NULL WHERE id = 1;
INSERT INTO photo (album_id) VALUES (1), (2);
SELECT * FROM album ORDER BY id;
-- a counted value cannot be smuggled in for a NULL one either
UPDATE album SET photo_count = 3 WHERE id = 1;
SELECT * FROM album ORDER BY id;
SELECT counterfield.reinit('album', 'photo_count');
SELECT * FROM album ORDER BY id;
SELECT mismatches('album', 'photo_count', 'photo', 'album_id');

-- a user trigger that tries to overwrite the counter on INSERT loses
CREATE FUNCTION album_default() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.photo_count := -1; RETURN NEW; END $$;
CREATE TRIGGER aaa_album_default BEFORE INSERT ON album FOR EACH ROW EXECUTE FUNCTION album_default();
INSERT INTO album VALUES (6, 'f', 3);
SELECT * FROM album WHERE id = 6;

-- counterfield's own updates pass the guard, not the parent's other triggers
CREATE TABLE album_log (album_id int, old_count int, new_count int);
CREATE FUNCTION album_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO album_log VALUES (OLD.id, OLD.photo_count, NEW.photo_count); RETURN NEW; END $$;
CREATE TRIGGER zzz_album_log BEFORE UPDATE ON album FOR EACH ROW EXECUTE FUNCTION album_log();
INSERT INTO album SELECT g, 'x', 0 FROM generate_series(7, 20) g;
INSERT INTO photo (album_id) SELECT g FROM generate_series(2, 20) g;	-- one batch
INSERT INTO photo (album_id) VALUES (3);	-- one key
SELECT count(*) AS updates, count(*) FILTER (WHERE new_count = old_count + 1) AS by_one
  FROM album_log;
-- while the guard still keeps the counter out of an ordinary UPDATE
UPDATE album SET photo_count = 99 WHERE id = 3;
SELECT id, photo_count FROM album WHERE id = 3;
SELECT mismatches('album', 'photo_count', 'photo', 'album_id');

DROP TABLE photo, album, album_log;
DROP FUNCTION album_default(), album_log();
