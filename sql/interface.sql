-- The SQL interface: add_counter, the counters view, reinit, verify, drop_counter.
CREATE TABLE review_request (id int PRIMARY KEY, title text, review_count int);
CREATE TABLE review (id serial PRIMARY KEY,
                     review_request_id int REFERENCES review_request ON DELETE CASCADE,
                     body text);
INSERT INTO review_request SELECT g, 'rr ' || g, NULL FROM generate_series(1, 4) g;
INSERT INTO review (review_request_id) SELECT 1 + g % 3 FROM generate_series(1, 10) g;

-- initialize => true computes every parent at once
SELECT counterfield.add_counter('review_request', 'review_count', 'review');
SELECT id, review_count FROM review_request ORDER BY id;
SELECT mismatches('review_request', 'review_count', 'review', 'review_request_id');

-- the view shows every setting
SELECT parent, counter_column, child, fk_columns, parent_columns, condition, flush
  FROM counterfield.counters;

-- the extension's triggers
SELECT tgrelid::regclass, tgname FROM pg_trigger
 WHERE tgname LIKE '%counterfield%' ORDER BY 1, 2;

-- verify is empty when consistent, and reports drift with the key
ALTER TABLE review DISABLE TRIGGER counterfield_insert;
INSERT INTO review (review_request_id) VALUES (2), (2), (4);
ALTER TABLE review ENABLE TRIGGER counterfield_insert;
SELECT * FROM counterfield.verify();
SELECT * FROM counterfield.verify('review_request', 'review_count');
-- reinit repairs and returns the number of parent rows it changed
SELECT counterfield.reinit('review_request', 'review_count');
SELECT counterfield.reinit('review_request', 'review_count');
SELECT * FROM counterfield.verify();
SELECT mismatches('review_request', 'review_count', 'review', 'review_request_id');

-- initialize => false leaves NULL ("not yet counted"); writes keep it NULL
CREATE TABLE tag (id int PRIMARY KEY, n int, other int);
CREATE TABLE tagging (tag_id int REFERENCES tag);
INSERT INTO tag VALUES (1, NULL, 0), (2, NULL, 0);
INSERT INTO tagging VALUES (1), (1);
SELECT counterfield.add_counter('tag', 'n', 'tagging', initialize => false);
INSERT INTO tagging VALUES (1), (2);
SELECT * FROM tag ORDER BY id;
-- verify ignores values not yet counted
SELECT * FROM counterfield.verify('tag', 'n');
SELECT counterfield.reinit('tag', 'n');
SELECT * FROM tag ORDER BY id;
SELECT mismatches('tag', 'n', 'tagging', 'tag_id');
INSERT INTO tagging VALUES (2);
SELECT mismatches('tag', 'n', 'tagging', 'tag_id');

-- drop_counter removes the catalog row and the triggers; counting stops
SELECT counterfield.drop_counter('tag', 'n');
SELECT count(*) FROM counterfield.counters WHERE parent = 'tag'::regclass;
SELECT tgname FROM pg_trigger WHERE tgrelid IN ('tag'::regclass, 'tagging'::regclass)
   AND tgname LIKE '%counterfield%';
INSERT INTO tagging VALUES (2);
SELECT * FROM tag ORDER BY id;
-- the column may be counted again later
SELECT counterfield.add_counter('tag', 'n', 'tagging');
SELECT mismatches('tag', 'n', 'tagging', 'tag_id');
SELECT counterfield.drop_counter('tag', 'n');
DROP TABLE tagging, tag;

-- the state cache is empty after statement-mode writes
SELECT counterfield.has_tracked_states();
SELECT * FROM counterfield.tracked_states();
DROP TABLE review, review_request;
