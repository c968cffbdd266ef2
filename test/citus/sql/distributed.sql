-- Counters between co-located distributed tables, kept on the shards.
-- Every check compares the counters with the truth, counted over the
-- distributed tables.
SET citus.shard_count = 4;
SET client_min_messages = warning;
CREATE TABLE sp (tenant int, id int, n int NOT NULL DEFAULT 0, t int NOT NULL DEFAULT 0,
                 c int NOT NULL DEFAULT 0, s numeric(12,2) NOT NULL DEFAULT 0,
                 PRIMARY KEY (tenant, id));
CREATE TABLE sc (tenant int, id int, sp_id int, v numeric(10,2), PRIMARY KEY (tenant, id));
CREATE INDEX ON sc (tenant, sp_id);
SELECT create_distributed_table('sp', 'tenant');
SELECT create_distributed_table('sc', 'tenant', colocate_with => 'sp');
INSERT INTO sp (tenant, id) SELECT g % 10, g FROM generate_series(1, 50) g;
INSERT INTO sc SELECT (g % 50 + 1) % 10, g, g % 50 + 1, g % 7 - 2 FROM generate_series(1, 500) g;
RESET client_min_messages;
CREATE VIEW sp_wrong AS
 SELECT count(*) AS wrong FROM sp LEFT JOIN (
   SELECT tenant, sp_id, count(*) AS n, count(*) FILTER (WHERE v > 0) AS c,
          COALESCE(sum(v), 0) AS s
   FROM sc GROUP BY tenant, sp_id) k ON k.tenant = sp.tenant AND k.sp_id = sp.id
 WHERE (sp.n, sp.t, sp.c, sp.s) IS DISTINCT FROM
       (COALESCE(k.n, 0), COALESCE(k.n, 0), COALESCE(k.c, 0), COALESCE(k.s, 0));

-- four counters of one child: both flush modes, a condition, a sum; each
-- starts from the truth
SELECT counterfield.add_counter('sp', 'n', 'sc', '{tenant, sp_id}', '{tenant, id}');
SELECT counterfield.add_counter('sp', 't', 'sc', '{tenant, sp_id}', '{tenant, id}',
                                flush => 'transaction');
SELECT counterfield.add_counter('sp', 'c', 'sc', '{tenant, sp_id}', '{tenant, id}',
                                condition => 'v > 0');
SELECT counterfield.add_counter('sp', 's', 'sc', '{tenant, sp_id}', '{tenant, id}',
                                sum_column => 'v');
SELECT * FROM sp_wrong;
SELECT sum(n) AS children, sum(c) AS positive FROM sp;

-- every write path, through the coordinator
INSERT INTO sc VALUES (1, 1001, 1, 1), (1, 1002, 11, 2), (2, 1003, 2, -1);
INSERT INTO sc SELECT tenant, id + 2000, id, 3 FROM sp;
INSERT INTO sc VALUES (1, 1001, 21, 5) ON CONFLICT (tenant, id) DO UPDATE
  SET sp_id = EXCLUDED.sp_id, v = EXCLUDED.v;
INSERT INTO sc VALUES (1, 1002, 1, 5) ON CONFLICT DO NOTHING;
UPDATE sc SET sp_id = 31 WHERE tenant = 1 AND sp_id = 1;
UPDATE sc SET v = v + 1 WHERE id % 3 = 0;
DELETE FROM sc USING sp WHERE sc.tenant = sp.tenant AND sc.sp_id = sp.id AND sp.id % 5 = 0
  AND sc.id % 2 = 0;
COPY sc FROM stdin;
3	3001	3	1.50
3	3002	13	-1
4	3003	4	\N
\.
WITH moved AS (UPDATE sc SET sp_id = 12 WHERE tenant = 2 AND sp_id = 2 RETURNING *)
INSERT INTO sc SELECT tenant, id + 10000, sp_id, v FROM moved;
SELECT * FROM sp_wrong;

-- a transaction over every shard, with a savepoint rolled back
BEGIN;
INSERT INTO sc SELECT tenant, id + 20000, id, 1 FROM sp;
SAVEPOINT a;
DELETE FROM sc WHERE id > 20000;
ROLLBACK TO SAVEPOINT a;
UPDATE sc SET sp_id = id - 20000 WHERE id > 20000;
COMMIT;
SELECT * FROM sp_wrong;
BEGIN;
INSERT INTO sc SELECT tenant, id + 30000, id, 1 FROM sp;
ROLLBACK;
SELECT * FROM sp_wrong;

-- the guard: a counter keeps its value, a new parent gets its children's count
UPDATE sp SET n = 1000, t = -1 WHERE tenant = 1;
INSERT INTO sc VALUES (5, 4001, 55, 1), (5, 4002, 55, 2);
INSERT INTO sp (tenant, id, n, s) VALUES (5, 55, 99, 99);
SELECT n, t, c, s FROM sp WHERE id = 55;
SELECT * FROM sp_wrong;
SELECT * FROM counterfield.verify();

-- TRUNCATE: the shards recount when the transaction commits
BEGIN;
TRUNCATE sc;
INSERT INTO sc VALUES (1, 1, 1, 1), (1, 2, 1, 1), (2, 3, 2, -3);
COMMIT;
SELECT * FROM sp_wrong;
SELECT sum(n) AS children FROM sp;

-- counting turned off on every node, then reinit
INSERT INTO sc SELECT (g % 50 + 1) % 10, g + 100, g % 50 + 1, 1 FROM generate_series(1, 200) g;
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL counterfield.enabled = off;
DELETE FROM sc WHERE id % 4 = 0;
COMMIT;
SELECT wrong > 0 AS wrong_while_off FROM sp_wrong;
SELECT counterfield.reinit('sp', 'n') > 0 AS changed;
SELECT counterfield.reinit('sp', 't') > 0, counterfield.reinit('sp', 'c') > 0,
       counterfield.reinit('sp', 's') > 0;
SELECT * FROM sp_wrong;
SELECT * FROM counterfield.verify();

-- the nodes hold the pairs of shards that counted
SELECT bool_and(result::int > 0) AS nodes_counting FROM run_command_on_workers(
  $$SELECT count(*) FROM counterfield.counter WHERE child::text LIKE 'sc\_%'$$);

-- drop_counter: the others go on counting; then all, and the shards keep
-- no trigger of counterfield's
SELECT counterfield.drop_counter('sp', 'c');
SELECT result AS rows_of_c FROM run_command_on_workers(
  $$SELECT count(*) FROM counterfield.counter
    WHERE counter_column = 'c' AND child::text LIKE 'sc\_%'$$);
INSERT INTO sc VALUES (7, 5001, 7, 4);
UPDATE sp SET c = 0;
SELECT count(*) AS wrong FROM sp
 WHERE (n, t) <> (SELECT count(*), count(*) FROM sc WHERE sc.tenant = sp.tenant AND sc.sp_id = sp.id);
SELECT counterfield.drop_counter('sp', 'n'), counterfield.drop_counter('sp', 't'),
       counterfield.drop_counter('sp', 's');
SELECT result FROM run_command_on_workers(
  $$SELECT count(*) FROM pg_trigger t JOIN pg_proc f ON f.oid = t.tgfoid
    WHERE f.proname IN ('child_trigger', 'parent_trigger')$$);
INSERT INTO sc VALUES (7, 5002, 7, 4);
-- added again, with another definition on the same column
SELECT counterfield.add_counter('sp', 'n', 'sc', '{tenant, sp_id}', '{tenant, id}',
                                condition => 'v > 0');
INSERT INTO sc VALUES (7, 5003, 7, 4), (7, 5004, 7, -4);
SELECT count(*) AS wrong FROM sp
 WHERE n <> (SELECT count(*) FROM sc WHERE sc.tenant = sp.tenant AND sc.sp_id = sp.id AND v > 0);
SELECT * FROM counterfield.verify();

-- renames of columns, of the tables and of their schema: the triggers
-- follow, and a role that may only write the child counts
ALTER TABLE sp RENAME COLUMN n TO n_renamed;
ALTER TABLE sc RENAME COLUMN sp_id TO parent_id;
ALTER TABLE sc RENAME TO sc_renamed;
CREATE SCHEMA elsewhere;
ALTER TABLE sp SET SCHEMA elsewhere;
CREATE ROLE sc_writer LOGIN;
GRANT INSERT, DELETE, TRUNCATE ON sc_renamed TO sc_writer;
SET ROLE sc_writer;
INSERT INTO sc_renamed VALUES (8, 6001, 8, 1), (9, 6002, 9, 1);
RESET ROLE;
SELECT count(*) AS wrong FROM elsewhere.sp p
 WHERE n_renamed <> (SELECT count(*) FROM sc_renamed c
                     WHERE c.tenant = p.tenant AND c.parent_id = p.id AND v > 0);
-- TRUNCATE by another role recounts as that role, which needs to read and
-- update the child
SET ROLE sc_writer;
TRUNCATE sc_renamed;
RESET ROLE;
GRANT SELECT, UPDATE ON sc_renamed TO sc_writer;
SET ROLE sc_writer;
TRUNCATE sc_renamed;
RESET ROLE;
SELECT sum(n_renamed) AS children FROM elsewhere.sp;
ALTER TABLE elsewhere.sp SET SCHEMA public;
ALTER TABLE sc_renamed RENAME TO sc;
ALTER TABLE sp RENAME COLUMN n_renamed TO n;
ALTER TABLE sc RENAME COLUMN parent_id TO sp_id;
REVOKE ALL ON sc FROM sc_writer;
DROP ROLE sc_writer;
DROP SCHEMA elsewhere;

-- retyping the counter column recounts on the shards; so does making
-- key types fit again after they no longer did
DROP VIEW sp_wrong;
ALTER TABLE sp ALTER COLUMN n TYPE bigint;
INSERT INTO sc VALUES (8, 7001, 8, 1);
ALTER TABLE sc ALTER COLUMN sp_id TYPE bigint;
INSERT INTO sc VALUES (8, 7002, 8, 1);
ALTER TABLE sc ALTER COLUMN sp_id TYPE int;
SELECT count(*) AS wrong FROM sp
 WHERE n <> (SELECT count(*) FROM sc WHERE sc.tenant = sp.tenant AND sc.sp_id = sp.id AND v > 0);
SELECT * FROM counterfield.verify();

-- a role that may truncate the child cannot have the nodes drop their rows
CREATE ROLE sc_truncater LOGIN;
GRANT SELECT, UPDATE, TRUNCATE ON sc TO sc_truncater;
SET ROLE sc_truncater;
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL counterfield.citus_recount = '-public.sp.n';
UPDATE sc SET tenant = tenant WHERE tenant IS NULL;
COMMIT;
RESET ROLE;
SELECT bool_and(result::int > 0) AS nodes_keep_rows FROM run_command_on_workers(
  $$SELECT count(*) FROM counterfield.counter
    WHERE counter_column = 'n' AND child::text LIKE 'sc\_%'$$);
REVOKE ALL ON sc FROM sc_truncater;
DROP ROLE sc_truncater;

-- a paused counter dropped: the nodes drop their rows of it too
ALTER TABLE sc ALTER COLUMN sp_id TYPE bigint;
SELECT counterfield.drop_counter('sp', 'n');
SELECT result AS rows_of_n FROM run_command_on_workers(
  $$SELECT count(*) FROM counterfield.counter
    WHERE counter_column = 'n' AND child::text LIKE 'sc\_%'$$);
ALTER TABLE sc ALTER COLUMN sp_id TYPE int;

-- dropping a column that a condition uses drops that counter on every node
SELECT counterfield.add_counter('sp', 'n', 'sc', '{tenant, sp_id}', '{tenant, id}');
ALTER TABLE sp ADD COLUMN w_count int NOT NULL DEFAULT 0;
ALTER TABLE sc ADD COLUMN w int DEFAULT 1;
SELECT counterfield.add_counter('sp', 'w_count', 'sc', '{tenant, sp_id}', '{tenant, id}',
                                condition => 'w > 0');
ALTER TABLE sc DROP COLUMN w;
SELECT counter_column FROM counterfield.counters WHERE parent = 'sp'::regclass ORDER BY 1;
INSERT INTO sc VALUES (8, 7003, 8, 1);
SELECT count(*) AS wrong FROM sp
 WHERE n <> (SELECT count(*) FROM sc WHERE sc.tenant = sp.tenant AND sc.sp_id = sp.id);
SELECT result AS rows_of_w_count FROM run_command_on_workers(
  $$SELECT count(*) FROM counterfield.counter WHERE counter_column = 'w_count'$$);

-- what cannot be kept between distributed tables is refused
SELECT counterfield.add_counter('sp', 't', 'sc', '{tenant, sp_id}', '{tenant, id}',
                                flush => 'deferred');
CREATE TABLE sq (tenant int, id int, sp_id int, d date, PRIMARY KEY (tenant, id, d))
  PARTITION BY RANGE (d);
CREATE TABLE sq_2024 PARTITION OF sq FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
SELECT create_distributed_table('sq', 'tenant', colocate_with => 'sp');
SELECT counterfield.add_counter('sp', 't', 'sq', '{tenant, sp_id}', '{tenant, id}');
SELECT counterfield.add_counter('sp', 't', 'sq_2024', '{tenant, sp_id}', '{tenant, id}');
DROP TABLE sq;

DROP TABLE sc, sp;
