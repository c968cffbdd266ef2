-- Definitions change between statements of one transaction: DDL, a
-- dropped counter with pending deltas, and a session that switches roles
-- or search_path.
SELECT make_shelves();
-- DDL between statements of one transaction invalidates the cache
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (1, 1);
ALTER TABLE book ADD COLUMN title text;
INSERT INTO book (shelf_id, pages, title) VALUES (1, 1, 'x');
ALTER TABLE shelf RENAME COLUMN tx_count TO tx_total;
INSERT INTO book (shelf_id, pages) VALUES (2, 1);
COMMIT;
ALTER TABLE shelf RENAME COLUMN tx_total TO tx_count;
SELECT * FROM check_shelf;
-- drop_counter with pending deltas: the dropped counter is not applied at commit
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (5, 1);
SELECT counterfield.drop_counter('shelf', 'tx_count');
INSERT INTO book (shelf_id, pages) VALUES (5, 1);
COMMIT;
SELECT id, book_count, tx_count FROM shelf WHERE id = 5;
SELECT mismatches('shelf', 'book_count', 'book', 'shelf_id');
SELECT counterfield.has_tracked_states();
SELECT counterfield.add_counter('shelf', 'tx_count', 'book', fk_columns => '{shelf_id}',
                                parent_columns => '{id}', flush => 'transaction');

-- a session that switches roles or search_path between writes
CREATE ROLE counterfield_writer;
GRANT INSERT, DELETE, SELECT ON book TO counterfield_writer;
GRANT USAGE ON SEQUENCE book_id_seq TO counterfield_writer;
BEGIN;
INSERT INTO book (shelf_id, pages) VALUES (1, 1);
SET LOCAL ROLE counterfield_writer;
INSERT INTO book (shelf_id, pages) VALUES (1, 1), (2, 1);
SET LOCAL search_path = pg_catalog;
INSERT INTO public.book (shelf_id, pages) VALUES (2, 1);
RESET ROLE;
COMMIT;
SELECT * FROM check_shelf;
REVOKE ALL ON book FROM counterfield_writer;
REVOKE ALL ON SEQUENCE book_id_seq FROM counterfield_writer;
DROP ROLE counterfield_writer;

SELECT drop_shelves();
