-- Conditional counters: counted only where the condition holds.
CREATE TABLE ticket (id int PRIMARY KEY, open_count int, urgent_count int, all_count int);
CREATE TABLE task (id serial PRIMARY KEY, ticket_id int REFERENCES ticket,
                   state text NOT NULL DEFAULT 'open', priority int, note text);
INSERT INTO ticket SELECT g FROM generate_series(1, 3) g;
INSERT INTO task (ticket_id, state, priority)
  SELECT 1 + g % 3, CASE WHEN g % 2 = 0 THEN 'open' ELSE 'closed' END, g % 5
  FROM generate_series(1, 20) g;
SELECT counterfield.add_counter('ticket', 'open_count', 'task', condition => $$state = 'open'$$);
SELECT counterfield.add_counter('ticket', 'urgent_count', 'task',
                                condition => 'priority >= 3 AND lower(state) <> ''closed''');
SELECT counterfield.add_counter('ticket', 'all_count', 'task');
SELECT parent, counter_column, condition FROM counterfield.counters ORDER BY 2;
CREATE VIEW check_ticket AS
  SELECT mismatches('ticket', 'open_count', 'task', 'ticket_id', 'id', $$state = 'open'$$)
       + mismatches('ticket', 'urgent_count', 'task', 'ticket_id', 'id',
                    $$priority >= 3 AND lower(state) <> 'closed'$$)
       + mismatches('ticket', 'all_count', 'task', 'ticket_id') AS mismatches,
         (SELECT string_agg(format('%s:%s/%s/%s', id, open_count, urgent_count, all_count),
                            ' ' ORDER BY id) FROM ticket) AS counts;
SELECT * FROM check_ticket;

-- flipping the condition without moving the row
UPDATE task SET state = 'closed' WHERE id IN (2, 4, 6);
SELECT * FROM check_ticket;
UPDATE task SET state = 'open', priority = 4 WHERE id IN (1, 3);
SELECT * FROM check_ticket;
-- moving and flipping at once
UPDATE task SET ticket_id = 3, state = 'open' WHERE ticket_id = 1 AND state = 'closed';
SELECT * FROM check_ticket;
-- NULL makes the condition unknown: not counted
UPDATE task SET priority = NULL WHERE id = 1;
SELECT * FROM check_ticket;
-- inserts and deletes that the condition excludes
INSERT INTO task (ticket_id, state, priority) VALUES (2, 'closed', 0), (2, 'open', 9);
DELETE FROM task WHERE state = 'closed' AND id % 2 = 1;
SELECT * FROM check_ticket;

-- immutable user functions are accepted, and the view shows them qualified as needed
CREATE FUNCTION is_big(int) RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT $1 > 2';
ALTER TABLE ticket ADD COLUMN big_count int;
SELECT counterfield.add_counter('ticket', 'big_count', 'task', condition => 'is_big(priority)');
SELECT condition FROM counterfield.counters WHERE counter_column = 'big_count';
UPDATE task SET priority = priority + 1;
SELECT mismatches('ticket', 'big_count', 'task', 'ticket_id', 'id', 'is_big(priority)');
-- the condition keeps working when the function's schema is not on the search_path
CREATE SCHEMA elsewhere;
ALTER FUNCTION is_big(int) SET SCHEMA elsewhere;
SET search_path = pg_catalog;
INSERT INTO public.task (ticket_id, priority) VALUES (1, 7), (1, 0);
SELECT counterfield.reinit('public.ticket', 'big_count');
RESET search_path;
SELECT condition FROM counterfield.counters WHERE counter_column = 'big_count';
SELECT mismatches('ticket', 'big_count', 'task', 'ticket_id', 'id', 'elsewhere.is_big(priority)');
SELECT * FROM check_ticket;

DROP VIEW check_ticket;
DROP TABLE task, ticket;
DROP SCHEMA elsewhere CASCADE;
