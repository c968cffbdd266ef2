-- Keys: composite, self-reference, several counters, two foreign keys to one
-- parent, counters without a foreign key, text keys.

-- composite keys
CREATE TABLE repo (owner text, name text, issue_count int, PRIMARY KEY (owner, name));
CREATE TABLE issue (id serial PRIMARY KEY, owner text, name text,
                    FOREIGN KEY (owner, name) REFERENCES repo ON UPDATE CASCADE);
INSERT INTO repo VALUES ('ann', 'x', NULL), ('ann', 'y', NULL), ('bob', 'x', NULL),
                        ('a b', 'q,"r"', NULL);
SELECT counterfield.add_counter('repo', 'issue_count', 'issue');
INSERT INTO issue (owner, name) VALUES ('ann', 'x'), ('ann', 'x'), ('bob', 'x'), ('ann', NULL),
                                       ('a b', 'q,"r"');
UPDATE issue SET name = 'y' WHERE id = 2;
SELECT r.*, (SELECT count(*) FROM issue i WHERE i.owner = r.owner AND i.name = r.name) AS truth
  FROM repo r ORDER BY 1, 2;
-- a key change cascades to the children; the counter follows
UPDATE repo SET name = 'z' WHERE owner = 'ann' AND name = 'x';
SELECT r.*, (SELECT count(*) FROM issue i WHERE i.owner = r.owner AND i.name = r.name) AS truth
  FROM repo r ORDER BY 1, 2;
-- parent_key is a row literal
ALTER TABLE issue DISABLE TRIGGER counterfield_delete;
DELETE FROM issue WHERE owner = 'a b';
ALTER TABLE issue ENABLE TRIGGER counterfield_delete;
SELECT * FROM counterfield.verify('repo');
SELECT counterfield.reinit('repo', 'issue_count');

-- self-reference: replies counted on their parent comment
CREATE TABLE note (id int PRIMARY KEY, parent_id int REFERENCES note ON DELETE CASCADE,
                   reply_count int);
SELECT counterfield.add_counter('note', 'reply_count', 'note');
-- one statement inserting parents and children in any order
INSERT INTO note VALUES (2, 1, 7), (1, NULL, 7), (3, 1, 7), (4, 3, 7);
INSERT INTO note VALUES (5, NULL, 0), (6, 5, 0), (7, 6, 0);
INSERT INTO note VALUES (9, 8, 0), (8, 9, 0);
SELECT id, parent_id, reply_count, (SELECT count(*) FROM note c WHERE c.parent_id = n.id) AS truth
  FROM note n ORDER BY id;
DELETE FROM note WHERE id = 3;
UPDATE note SET parent_id = 5 WHERE id = 2;
SELECT mismatches('note', 'reply_count', 'note', 'parent_id');
DELETE FROM note WHERE id = 1;
SELECT mismatches('note', 'reply_count', 'note', 'parent_id');

-- several counters on one child and on one parent; two foreign keys to one parent
CREATE TABLE person (id int PRIMARY KEY, sent int, received int, total int);
CREATE TABLE message (id serial PRIMARY KEY,
                      sender_id int REFERENCES person, recipient_id int REFERENCES person);
INSERT INTO person SELECT g FROM generate_series(1, 4) g;
SELECT counterfield.add_counter('person', 'sent', 'message');
SELECT counterfield.add_counter('person', 'sent', 'message', fk_columns => '{sender_id}');
SELECT counterfield.add_counter('person', 'received', 'message', fk_columns => '{recipient_id}');
SELECT counterfield.add_counter('person', 'total', 'message', fk_columns => '{recipient_id}',
                                parent_columns => '{id}');
INSERT INTO message (sender_id, recipient_id)
  SELECT 1 + g % 4, 1 + (g * 7) % 4 FROM generate_series(1, 30) g;
UPDATE message SET sender_id = recipient_id, recipient_id = sender_id WHERE id % 3 = 0;
-- both counters of one parent row change in one UPDATE of it
CREATE TRIGGER note_person AFTER UPDATE ON person FOR EACH ROW EXECUTE FUNCTION note_update();
DELETE FROM parent_updates;
INSERT INTO message (sender_id, recipient_id) VALUES (2, 3), (3, 3);
SELECT * FROM parent_updates;
SELECT mismatches('person', 'sent', 'message', 'sender_id')
     + mismatches('person', 'received', 'message', 'recipient_id')
     + mismatches('person', 'total', 'message', 'recipient_id') AS mismatches;
SELECT * FROM person ORDER BY id;

-- no foreign key: parent_columns names a unique key; orphans are not counted
CREATE TABLE sku (code text PRIMARY KEY, line_count int);
CREATE TABLE line (id serial PRIMARY KEY, sku_code varchar(20));
INSERT INTO line (sku_code) VALUES ('A'), ('B'), ('B'), ('zz');
INSERT INTO sku VALUES ('A', 5), ('B', 5), ('C', 5);
SELECT counterfield.add_counter('sku', 'line_count', 'line', fk_columns => '{sku_code}',
                                parent_columns => '{code}');
SELECT * FROM sku ORDER BY code;
INSERT INTO line (sku_code) VALUES ('C'), ('zz'), ('A');
UPDATE line SET sku_code = 'C' WHERE sku_code = 'zz' AND id = 4;
-- a new parent row gets the orphans that already point at it
INSERT INTO sku VALUES ('zz', 100);
SELECT * FROM sku ORDER BY code;
SELECT mismatches('sku', 'line_count', 'line', 'sku_code', 'code');
-- changing the parent key recounts for the new key
UPDATE sku SET code = 'B2' WHERE code = 'B';
INSERT INTO line (sku_code) VALUES ('B2'), ('B');
SELECT * FROM sku ORDER BY code;
SELECT mismatches('sku', 'line_count', 'line', 'sku_code', 'code');

-- one statement whose counters reach the update two ways: a text key
-- summed in the state cache, an integer key summed on the way
CREATE TABLE label (name text PRIMARY KEY, uses int);
CREATE TABLE board (id int PRIMARY KEY, uses int);
CREATE TABLE labelling (id serial PRIMARY KEY, label text REFERENCES label,
                        board int REFERENCES board);
INSERT INTO label SELECT 'l' || g FROM generate_series(1, 5) g;
INSERT INTO board SELECT g FROM generate_series(1, 5) g;
SELECT counterfield.add_counter('label', 'uses', 'labelling');
SELECT counterfield.add_counter('board', 'uses', 'labelling');
INSERT INTO labelling (label, board)
  SELECT 'l' || (1 + g % 5), 1 + g % 3 FROM generate_series(1, 40) g;
UPDATE labelling SET label = 'l1', board = 5 WHERE id % 4 = 0;
UPDATE labelling SET board = 4 WHERE id = 1;
DELETE FROM labelling WHERE id % 7 = 0;
SELECT l.name, l.uses, (SELECT count(*) FROM labelling WHERE label = l.name) AS truth
  FROM label l ORDER BY 1;
SELECT b.id, b.uses, (SELECT count(*) FROM labelling WHERE board = b.id) AS truth
  FROM board b ORDER BY 1;

DROP TABLE issue, repo, note, message, person, line, sku, labelling, label, board;
