-- Every write path keeps counters exact; truth is count(*).
CREATE TABLE account (id int PRIMARY KEY, post_count bigint);
CREATE TABLE post (id int PRIMARY KEY, account_id int REFERENCES account ON DELETE SET NULL,
                   title text);
INSERT INTO account SELECT g, 0 FROM generate_series(1, 5) g;
SELECT counterfield.add_counter('account', 'post_count', 'post');
CREATE TRIGGER note_account AFTER UPDATE ON account FOR EACH ROW EXECUTE FUNCTION note_update();
CREATE VIEW check_post AS
  SELECT mismatches('account', 'post_count', 'post', 'account_id') AS mismatches,
         (SELECT string_agg(id || ':' || post_count, ' ' ORDER BY id) FROM account) AS counts;

-- single and multi-row INSERT
INSERT INTO post VALUES (1, 1, 'a');
INSERT INTO post VALUES (2, 1, 'b'), (3, 2, 'c'), (4, NULL, 'd');
SELECT * FROM check_post;

-- a multi-row INSERT over few parents updates each parent once
DELETE FROM parent_updates;
INSERT INTO post SELECT g, 1 + g % 2, 'bulk' FROM generate_series(100, 199) g;
SELECT * FROM parent_updates;
SELECT * FROM check_post;

-- COPY
COPY post FROM stdin;
10	3	copied
11	3	copied
12	\N	copied
\.
SELECT * FROM check_post;

-- ON CONFLICT DO NOTHING counts only rows really inserted
INSERT INTO post VALUES (1, 5, 'dup'), (13, 5, 'new') ON CONFLICT DO NOTHING;
SELECT * FROM check_post;

-- ON CONFLICT DO UPDATE moves the existing row, inserts the new one
INSERT INTO post VALUES (2, 4, 'moved'), (14, 4, 'new')
  ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id;
SELECT * FROM check_post;
-- ... and an upsert that changes nothing counted issues no parent update
DELETE FROM parent_updates;
INSERT INTO post VALUES (2, 4, 'again') ON CONFLICT (id) DO UPDATE SET title = excluded.title;
SELECT count(*) AS parent_updates FROM parent_updates;
SELECT * FROM check_post;

-- MERGE with insert, update and delete actions
CREATE TABLE incoming (id int, account_id int, gone bool);
INSERT INTO incoming VALUES (1, 3, false), (3, NULL, true), (20, 2, false), (21, 5, false);
MERGE INTO post p USING incoming i ON p.id = i.id
  WHEN MATCHED AND i.gone THEN DELETE
  WHEN MATCHED THEN UPDATE SET account_id = i.account_id
  WHEN NOT MATCHED THEN INSERT VALUES (i.id, i.account_id, 'merged');
SELECT * FROM check_post;

-- UPDATE moving rows between parents, to and from NULL
UPDATE post SET account_id = 5 WHERE account_id = 1 AND id % 3 = 0;
UPDATE post SET account_id = NULL WHERE id IN (10, 11);
UPDATE post SET account_id = 2 WHERE account_id IS NULL;
SELECT * FROM check_post;
-- swapping parents in one statement
UPDATE post SET account_id = CASE account_id WHEN 1 THEN 2 WHEN 2 THEN 1 END
 WHERE account_id IN (1, 2);
SELECT * FROM check_post;

-- UPDATE of uncounted columns writes no parent at all
DELETE FROM parent_updates;
UPDATE post SET title = title || '!';
UPDATE post SET account_id = account_id;
SELECT count(*) AS parent_updates FROM parent_updates;
SELECT * FROM check_post;

-- DELETE
DELETE FROM post WHERE id % 4 = 0;
SELECT * FROM check_post;

-- ON DELETE SET NULL from the parent
DELETE FROM account WHERE id = 4;
SELECT * FROM check_post;
INSERT INTO account VALUES (4, 99);

-- ON DELETE CASCADE from further up: grandparent -> account -> post
CREATE TABLE org (id int PRIMARY KEY);
INSERT INTO org VALUES (1), (2);
ALTER TABLE account ADD COLUMN org_id int REFERENCES org ON DELETE CASCADE;
UPDATE account SET org_id = CASE WHEN id <= 2 THEN 1 ELSE 2 END;
CREATE TABLE comment (id serial PRIMARY KEY,
                      post_id int REFERENCES post ON DELETE CASCADE);
ALTER TABLE post ADD COLUMN comment_count int;
SELECT counterfield.add_counter('post', 'comment_count', 'comment');
INSERT INTO comment (post_id) SELECT id FROM post, generate_series(1, 2);
ALTER TABLE post DROP CONSTRAINT post_account_id_fkey,
  ADD FOREIGN KEY (account_id) REFERENCES account ON DELETE CASCADE;
DELETE FROM org WHERE id = 1;
SELECT * FROM check_post;
SELECT mismatches('post', 'comment_count', 'comment', 'post_id');
SELECT count(*) FROM post;

-- TRUNCATE of the child: counters of affected parents become 0
TRUNCATE comment;
SELECT count(*) FILTER (WHERE comment_count <> 0) AS nonzero FROM post;
SELECT mismatches('post', 'comment_count', 'comment', 'post_id');
INSERT INTO comment (post_id) SELECT id FROM post LIMIT 3;
SELECT mismatches('post', 'comment_count', 'comment', 'post_id');
-- TRUNCATE ... CASCADE through the foreign key
TRUNCATE post CASCADE;
SELECT * FROM check_post;
-- TRUNCATE rolled back leaves everything as it was
INSERT INTO post VALUES (1, 3, 'x'), (2, 3, 'y');
BEGIN;
TRUNCATE post CASCADE;
SELECT * FROM check_post;
ROLLBACK;
SELECT * FROM check_post;

-- CTE writing children and other statements in one query
WITH moved AS (UPDATE post SET account_id = 5 WHERE id = 1 RETURNING id)
INSERT INTO post SELECT 30 + id, 5, 'cte' FROM moved;
SELECT * FROM check_post;

DROP TABLE comment, post, incoming, account, org CASCADE;
