-- A short tour of counterfield, run by test/run demo.
\pset footer off
\echo
\echo '== review requests and reviews: review_count is kept by counterfield'
CREATE EXTENSION counterfield;
CREATE TABLE review_request (id int PRIMARY KEY, summary text, review_count int);
CREATE TABLE review (id serial PRIMARY KEY,
                     review_request_id int NOT NULL REFERENCES review_request ON DELETE CASCADE,
                     ship_it boolean NOT NULL DEFAULT false);
ALTER TABLE review_request ADD COLUMN ship_it_count int;
INSERT INTO review_request (id, summary) VALUES (1, 'fix the parser'), (2, 'new logo'), (3, 'docs');
SELECT counterfield.add_counter('review_request', 'review_count', 'review') \gset
SELECT counterfield.add_counter('review_request', 'ship_it_count', 'review',
                                condition => 'ship_it') \gset
\echo '-- a bulk insert, a move, a flip of the condition, a delete'
INSERT INTO review (review_request_id, ship_it)
  SELECT 1 + g % 3, g % 4 = 0 FROM generate_series(1, 1000) g;
UPDATE review SET review_request_id = 3 WHERE id <= 10;
UPDATE review SET ship_it = true WHERE review_request_id = 2 AND id % 2 = 0;
DELETE FROM review WHERE id % 5 = 0;
SELECT r.id, r.review_count, r.ship_it_count,
       (SELECT count(*) FROM review v WHERE v.review_request_id = r.id) AS "count(*)",
       (SELECT count(*) FROM review v WHERE v.review_request_id = r.id AND ship_it) AS "ship its"
  FROM review_request r ORDER BY id;
\echo '-- an ORM saving a stale copy cannot overwrite a counter'
UPDATE review_request SET summary = 'fix the parser, again', review_count = 0 WHERE id = 1;
SELECT id, summary, review_count FROM review_request WHERE id = 1;
\echo '-- verify() lists counters that differ from count(*): none'
SELECT * FROM counterfield.verify();
\echo
\echo '== users and groups through a join table, both directions'
CREATE TABLE users (id int PRIMARY KEY, group_count int);
CREATE TABLE groups (id int PRIMARY KEY, member_count int);
CREATE TABLE membership (user_id int REFERENCES users ON DELETE CASCADE,
                         group_id int REFERENCES groups ON DELETE CASCADE,
                         PRIMARY KEY (user_id, group_id));
INSERT INTO users SELECT g FROM generate_series(1, 4) g;
INSERT INTO groups SELECT g FROM generate_series(1, 2) g;
SELECT counterfield.add_counter('users', 'group_count', 'membership', flush => 'transaction') \gset
SELECT counterfield.add_counter('groups', 'member_count', 'membership', flush => 'transaction') \gset
BEGIN;
INSERT INTO membership VALUES (1, 1), (2, 1), (3, 1), (1, 2);
\echo '-- transaction mode: the deltas wait for COMMIT'
SELECT parent, counter_column, parent_key, delta FROM counterfield.tracked_states() ORDER BY 1, 3;
COMMIT;
DELETE FROM users WHERE id = 2;
SELECT * FROM users ORDER BY id;
SELECT * FROM groups ORDER BY id;
SELECT * FROM counterfield.counters;
\echo
\echo '== a hot parent: deferred mode'
CREATE TABLE post (id int PRIMARY KEY, like_count int NOT NULL DEFAULT 0);
CREATE TABLE post_like (id serial PRIMARY KEY, post_id int NOT NULL REFERENCES post);
CREATE INDEX ON post_like (post_id);
INSERT INTO post VALUES (1), (2);
SELECT counterfield.add_counter('post', 'like_count', 'post_like', flush => 'deferred') \gset
INSERT INTO post_like (post_id) SELECT 1 FROM generate_series(1, 5);
INSERT INTO post_like (post_id) VALUES (2);
\echo '-- writers did not touch the posts; their deltas wait in the ledger'
SELECT * FROM counterfield.unfolded('post') ORDER BY parent_key;
\echo '-- the exact value: the column plus the unfolded deltas'
SELECT p.id, p.like_count, p.like_count + coalesce(u.delta, 0) AS exact
  FROM post p LEFT JOIN counterfield.unfolded('post', 'like_count') u
    ON u.parent_key = CAST(ROW(p.id) AS text)
 ORDER BY p.id;
\echo '-- fold() (or the background worker, when preloaded) applies them'
SELECT counterfield.fold('post') AS parents_folded;
SELECT * FROM post ORDER BY id;
