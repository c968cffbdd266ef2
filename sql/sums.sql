-- Sums: a counter column that keeps sum(child.sum_column) over the counted
-- rows, checked against sum() truth on every write path and in every flush
-- mode; for deferred counters the value is the column plus the unfolded deltas.
CREATE FUNCTION sum_mismatches(parent regclass, counter text, child regclass, fk text,
                               summed text, cond text DEFAULT 'true')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %1$s p'
                   ' LEFT JOIN counterfield.unfolded(%1$L, %2$L) u'
                   '   ON u.parent_key = CAST(ROW(p.id) AS text)'
                   ' WHERE p.%2$I + COALESCE(u.delta, 0) IS DISTINCT FROM'
                   '       (SELECT COALESCE(sum(c.%5$I), 0) FROM %3$s c'
                   '         WHERE c.%4$I = p.id AND (%6$s))',
                   parent, counter, child, fk, summed, cond) INTO n;
    RETURN n;
END
$$;

CREATE TABLE sale_order (id int PRIMARY KEY,
                         total numeric(14,2) NOT NULL DEFAULT 0,   -- numeric sum, statement
                         total_tx numeric NOT NULL DEFAULT 0,       -- numeric sum, transaction
                         total_df numeric(16,2) NOT NULL DEFAULT 0, -- numeric sum, deferred
                         units int NOT NULL DEFAULT 0,             -- integer sum
                         big_units numeric NOT NULL DEFAULT 0,     -- bigint sum into numeric
                         small smallint NOT NULL DEFAULT 0,        -- smallint sum, with a condition
                         lines int NOT NULL DEFAULT 0);            -- a count, next to the sums
CREATE TABLE sale_line (id int PRIMARY KEY,
                        order_id int REFERENCES sale_order ON DELETE CASCADE,
                        price numeric(10,2),
                        qty int,
                        big bigint,
                        tiny smallint,
                        note text);
CREATE INDEX ON sale_line (order_id);
INSERT INTO sale_order (id) SELECT g FROM generate_series(1, 6) g;
INSERT INTO sale_line VALUES (1, 1, 1.25, 2, 10, 1, 'a'), (2, 1, 2.50, 3, NULL, 2, 'b'),
                             (3, 2, NULL, 4, 5, 3, 'c');
SELECT counterfield.add_counter('sale_order', 'total', 'sale_line', sum_column => 'price');
SELECT counterfield.add_counter('sale_order', 'total_tx', 'sale_line', sum_column => 'price',
                                flush => 'transaction');
SELECT counterfield.add_counter('sale_order', 'total_df', 'sale_line', sum_column => 'price',
                                flush => 'deferred');
SELECT counterfield.add_counter('sale_order', 'units', 'sale_line', sum_column => 'qty');
SELECT counterfield.add_counter('sale_order', 'big_units', 'sale_line', sum_column => 'big');
SELECT counterfield.add_counter('sale_order', 'small', 'sale_line', sum_column => 'tiny',
                                condition => 'note IS DISTINCT FROM ''skip''');
SELECT counterfield.add_counter('sale_order', 'lines', 'sale_line');
SELECT counter_column, sum_column, flush FROM counterfield.counters
 WHERE parent = 'sale_order'::regclass ORDER BY id;

CREATE VIEW check_sale AS
  SELECT sum_mismatches('sale_order', 'total', 'sale_line', 'order_id', 'price')
       + sum_mismatches('sale_order', 'total_tx', 'sale_line', 'order_id', 'price')
       + sum_mismatches('sale_order', 'total_df', 'sale_line', 'order_id', 'price')
       + sum_mismatches('sale_order', 'units', 'sale_line', 'order_id', 'qty')
       + sum_mismatches('sale_order', 'big_units', 'sale_line', 'order_id', 'big')
       + sum_mismatches('sale_order', 'small', 'sale_line', 'order_id', 'tiny',
                        'note IS DISTINCT FROM ''skip''')
       + mismatches('sale_order', 'lines', 'sale_line', 'order_id') AS mismatches,
         (SELECT string_agg(id || ':' || total || '/' || units || '/' || big_units || '/' ||
                            small || '/' || lines, ' ' ORDER BY id) FROM sale_order) AS sums;
-- add_counter initializes every sum; NULL adds nothing, an empty set sums to 0
SELECT * FROM check_sale;
SELECT * FROM counterfield.verify('sale_order');

-- multi-row INSERT, COPY
INSERT INTO sale_line SELECT g, 1 + g % 6, g * 0.25, g, g * 1000000000000, g % 5, NULL
  FROM generate_series(10, 109) g;
COPY sale_line (id, order_id, price, qty, big, tiny) FROM stdin;
200	3	0.01	1	\N	1
201	3	\N	\N	\N	\N
202	\N	5.00	5	5	5
\.
SELECT * FROM check_sale;

-- an UPDATE that changes only the summed value is a delta; so is one to or from NULL
CREATE TRIGGER note_sale AFTER UPDATE ON sale_order FOR EACH ROW EXECUTE FUNCTION note_update();
DELETE FROM parent_updates;
UPDATE sale_line SET price = price + 0.10 WHERE id = 1;
SELECT * FROM parent_updates;
UPDATE sale_line SET price = NULL, qty = NULL WHERE id = 2;
UPDATE sale_line SET price = 7.77 WHERE id = 3;
UPDATE sale_line SET price = price * 2, qty = qty - 1, big = -big WHERE id % 4 = 0;
SELECT * FROM check_sale;

-- an UPDATE that changes no summed value (or sets the same one) updates no parent
DELETE FROM parent_updates;
UPDATE sale_line SET note = 'x' WHERE id = 1;
UPDATE sale_line SET price = price WHERE order_id = 2;
SELECT count(*) AS parent_updates FROM parent_updates;

-- moves, the condition flipping, NULL keys
UPDATE sale_line SET order_id = 6 WHERE order_id = 5 AND id % 2 = 0;
UPDATE sale_line SET note = 'skip' WHERE id % 3 = 0;
UPDATE sale_line SET order_id = NULL WHERE id = 11;
SELECT * FROM check_sale;

-- ON CONFLICT DO NOTHING / DO UPDATE, MERGE
INSERT INTO sale_line VALUES (1, 2, 100.00, 1, 1, 1, NULL), (300, 2, 3.33, 3, 3, 3, NULL)
  ON CONFLICT DO NOTHING;
INSERT INTO sale_line VALUES (1, 2, 100.00, 1, 1, 1, NULL), (301, 2, 4.44, 4, 4, 4, NULL)
  ON CONFLICT (id) DO UPDATE SET price = excluded.price, order_id = excluded.order_id;
MERGE INTO sale_line l USING (VALUES (300, 9.99), (400, 1.00)) v(id, price) ON l.id = v.id
  WHEN MATCHED THEN UPDATE SET price = v.price
  WHEN NOT MATCHED THEN INSERT (id, order_id, price, qty) VALUES (v.id, 4, v.price, 1);
SELECT * FROM check_sale;

-- DELETE, and a cascade from the parent table
DELETE FROM sale_line WHERE id % 5 = 0;
DELETE FROM sale_order WHERE id = 6;
SELECT * FROM check_sale;

-- savepoints lose exactly their own deltas
BEGIN;
INSERT INTO sale_line VALUES (500, 1, 50.00, 50, 50, 5, NULL);
SAVEPOINT s;
UPDATE sale_line SET price = 0.01 WHERE order_id = 1;
ROLLBACK TO SAVEPOINT s;
INSERT INTO sale_line VALUES (501, 2, 0.50, 1, 1, 1, NULL);
COMMIT;
SELECT * FROM check_sale;

-- inside a transaction: statement mode is exact at once, transaction mode
-- shows its pending delta; for a numeric sum in units of its scale
BEGIN;
UPDATE sale_line SET price = price + 1.01 WHERE id = 1;
SELECT total - (SELECT sum(price) FROM sale_line WHERE order_id = 1) AS statement_off
  FROM sale_order WHERE id = 1;
SELECT parent, counter_column, parent_key, delta FROM counterfield.tracked_states()
 ORDER BY counter_column;
COMMIT;
SELECT * FROM check_sale;

-- the deferred sum's unfolded deltas are values of its column; fold applies them
SELECT parent_key, delta FROM counterfield.unfolded('sale_order', 'total_df') ORDER BY 1;
SELECT counterfield.fold('sale_order', 'total_df') > 0 AS folded;
SELECT count(*) AS unfolded FROM counterfield.unfolded('sale_order', 'total_df');
SELECT * FROM check_sale;

-- a new parent row gets the true sum of the children that name it
CREATE TABLE tab (id int PRIMARY KEY, amount numeric(12,3) DEFAULT 99, n int DEFAULT 99,
                  amount_tx numeric DEFAULT 99, amount_df numeric(12,3) DEFAULT 99);
CREATE TABLE tab_entry (tab_id int, amount numeric(8,3));
CREATE INDEX ON tab_entry (tab_id);
SELECT counterfield.add_counter('tab', 'amount', 'tab_entry', fk_columns => '{tab_id}',
                                parent_columns => '{id}', sum_column => 'amount');
SELECT counterfield.add_counter('tab', 'n', 'tab_entry', fk_columns => '{tab_id}',
                                parent_columns => '{id}', flush => 'transaction');
SELECT counterfield.add_counter('tab', 'amount_tx', 'tab_entry', fk_columns => '{tab_id}',
                                parent_columns => '{id}', sum_column => 'amount',
                                flush => 'transaction');
SELECT counterfield.add_counter('tab', 'amount_df', 'tab_entry', fk_columns => '{tab_id}',
                                parent_columns => '{id}', sum_column => 'amount',
                                flush => 'deferred');
INSERT INTO tab_entry VALUES (1, 0.125), (1, 2.5), (2, -1.000), (NULL, 4);
INSERT INTO tab (id) VALUES (1), (2), (3);
SELECT id, amount, n, amount_tx, amount_df FROM tab ORDER BY id;
UPDATE tab SET id = 4 WHERE id = 2;
INSERT INTO tab (id) VALUES (2);
-- children written in the transaction that creates their parent
BEGIN;
INSERT INTO tab_entry VALUES (5, 1.001), (5, 2.002), (6, 7.5);
INSERT INTO tab (id) VALUES (5);
INSERT INTO tab_entry VALUES (5, 0.010), (6, 0.5);
INSERT INTO tab (id) VALUES (6);
COMMIT;
SELECT id, amount, n, amount_tx, amount_df FROM tab ORDER BY id;
SELECT sum_mismatches('tab', 'amount', 'tab_entry', 'tab_id', 'amount'),
       sum_mismatches('tab', 'amount_tx', 'tab_entry', 'tab_id', 'amount'),
       sum_mismatches('tab', 'amount_df', 'tab_entry', 'tab_id', 'amount'),
       mismatches('tab', 'n', 'tab_entry', 'tab_id');

-- TRUNCATE of the child: every sum becomes 0
TRUNCATE sale_line;
SELECT * FROM check_sale;
SELECT * FROM counterfield.verify('sale_order');

-- verify() and reinit() compute the sum; verify reports numeric values
SET counterfield.enabled = off;
INSERT INTO sale_line VALUES (1, 1, 1.50, 2, 3, 4, NULL);
RESET counterfield.enabled;
SELECT * FROM counterfield.verify('sale_order') ORDER BY counter_column;
SELECT pg_typeof(stored), pg_typeof(actual) FROM counterfield.verify('sale_order') LIMIT 1;
SELECT counterfield.reinit('sale_order', 'total'), counterfield.reinit('sale_order', 'total_df');
SELECT counterfield.reinit('sale_order', 'units'), counterfield.reinit('sale_order', 'small');
SELECT counterfield.reinit('sale_order', 'total_tx'), counterfield.reinit('sale_order', 'big_units');
SELECT counterfield.reinit('sale_order', 'lines');
SELECT * FROM counterfield.verify('sale_order');
SELECT * FROM check_sale;

-- a partitioned child
CREATE TABLE wallet (id int PRIMARY KEY, balance bigint NOT NULL DEFAULT 0);
CREATE TABLE ledger_entry (id int, wallet_id int REFERENCES wallet, amount int,
                           booked date) PARTITION BY RANGE (booked);
CREATE TABLE ledger_entry_2025 PARTITION OF ledger_entry
  FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE ledger_entry_2026 PARTITION OF ledger_entry
  FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO wallet SELECT g FROM generate_series(1, 3) g;
SELECT counterfield.add_counter('wallet', 'balance', 'ledger_entry', sum_column => 'amount');
INSERT INTO ledger_entry SELECT g, 1 + g % 3, g * 10 - 200, '2025-06-01'::date + g
  FROM generate_series(1, 400) g;
UPDATE ledger_entry SET booked = booked + 200, amount = amount + 1
 WHERE id % 7 = 0 AND booked < '2025-12-01';
INSERT INTO ledger_entry_2026 VALUES (1000, 1, 12345, '2026-12-31');
DELETE FROM ledger_entry_2025 WHERE id % 9 = 0;
SELECT sum_mismatches('wallet', 'balance', 'ledger_entry', 'wallet_id', 'amount');
SELECT * FROM wallet ORDER BY id;

-- a sum that its column cannot hold fails cleanly and changes nothing
CREATE TABLE jar (id int PRIMARY KEY, coins smallint NOT NULL DEFAULT 0,
                  weight numeric(6,2) NOT NULL DEFAULT 0);
CREATE TABLE coin (jar_id int REFERENCES jar, value int, weight numeric(6,2),
                   big bigint);
INSERT INTO jar VALUES (1);
SELECT counterfield.add_counter('jar', 'coins', 'coin', sum_column => 'value');
SELECT counterfield.add_counter('jar', 'weight', 'coin', sum_column => 'weight',
                                flush => 'transaction');
INSERT INTO coin VALUES (1, 30000, 1.00);
INSERT INTO coin VALUES (1, 3000, 1.00);
INSERT INTO coin VALUES (1, 1, 9999.99);
BEGIN;
INSERT INTO coin VALUES (1, 1, 9999.99);
COMMIT;
SELECT * FROM jar;
-- deltas that a bigint cannot hold
CREATE TABLE vault (id int PRIMARY KEY, total numeric NOT NULL DEFAULT 0);
SELECT counterfield.add_counter('vault', 'total', 'coin', fk_columns => '{jar_id}',
                                parent_columns => '{id}', sum_column => 'big');
INSERT INTO vault VALUES (1);
INSERT INTO coin (jar_id, big) VALUES (1, 9223372036854775807), (1, 9223372036854775807);
INSERT INTO coin (jar_id, big) VALUES (1, 9223372036854775807), (1, -9223372036854775807);
DELETE FROM coin WHERE big = -9223372036854775807;
SELECT * FROM vault;
SELECT sum_mismatches('vault', 'total', 'coin', 'jar_id', 'big');

-- a numeric sum column cannot hold NaN or infinity, nor a bigint one the
-- value whose negation does not fit
INSERT INTO coin (jar_id, weight) VALUES (1, 'NaN');
INSERT INTO coin (jar_id, big) VALUES (1, -9223372036854775808);
SELECT * FROM jar;
-- nor can add_counter start from them
CREATE TABLE pot (id int PRIMARY KEY, total numeric);
CREATE TABLE drop_in (pot_id int REFERENCES pot, amount numeric(6,2));
INSERT INTO pot VALUES (1);
INSERT INTO drop_in VALUES (1, 'NaN');
\set VERBOSITY terse
SELECT counterfield.add_counter('pot', 'total', 'drop_in', sum_column => 'amount');
\set VERBOSITY default
SELECT count(*) FROM counterfield.counters WHERE parent = 'pot'::regclass;
DROP TABLE drop_in, pot;

-- bad definitions are refused
CREATE TABLE bad_parent (id int PRIMARY KEY, total numeric(10,1), n int, t text, f float8,
                         sum_free numeric);
CREATE TABLE bad_child (id int PRIMARY KEY, parent_id int REFERENCES bad_parent,
                        amount numeric(10,2), free numeric, label text, q int, n int,
                        tiny numeric(30,20));
SELECT counterfield.add_counter('bad_parent', 'n', 'bad_child', sum_column => 'amount');
SELECT counterfield.add_counter('bad_parent', 'sum_free', 'bad_child', sum_column => 'free');
SELECT counterfield.add_counter('bad_parent', 'sum_free', 'bad_child', sum_column => 'tiny');
SELECT counterfield.add_counter('bad_parent', 'n', 'bad_child', sum_column => 'label');
SELECT counterfield.add_counter('bad_parent', 't', 'bad_child', sum_column => 'q');
SELECT counterfield.add_counter('bad_parent', 'f', 'bad_child', sum_column => 'q');
SELECT counterfield.add_counter('bad_parent', 'total', 'bad_child', sum_column => 'amount');
SELECT counterfield.add_counter('bad_parent', 'total', 'bad_child', sum_column => 'missing');
-- a count still needs an integer column
SELECT counterfield.add_counter('bad_parent', 'sum_free', 'bad_child');
-- counterfield does not sum the columns it keeps
CREATE TABLE node (id int PRIMARY KEY, parent_id int REFERENCES node, weight int DEFAULT 0,
                   subtree int DEFAULT 0, children int DEFAULT 0);
SELECT counterfield.add_counter('node', 'subtree', 'node', sum_column => 'subtree');
SELECT counterfield.add_counter('node', 'children', 'node');
SELECT counterfield.add_counter('node', 'subtree', 'node', sum_column => 'children');
SELECT counterfield.add_counter('node', 'subtree', 'node', sum_column => 'weight');
SELECT counterfield.add_counter('node', 'weight', 'node', sum_column => 'children');
SELECT counterfield.drop_counter('node', 'children');
SELECT counterfield.add_counter('node', 'children', 'node');
SELECT counterfield.add_counter('bad_parent', 'n', 'node', fk_columns => '{parent_id}',
                                parent_columns => '{id}', sum_column => 'subtree');
-- a self-referencing sum: each node's subtree is the weight of its children
INSERT INTO node VALUES (1, NULL, 5), (2, 1, 7), (3, 1, 11), (4, 2, 13);
UPDATE node SET weight = weight + 1 WHERE id IN (2, 4);
UPDATE node SET parent_id = 3 WHERE id = 4;
SELECT id, subtree, children FROM node ORDER BY id;
SELECT sum_mismatches('node', 'subtree', 'node', 'parent_id', 'weight');

-- DDL: the sum column renamed, retyped and dropped
ALTER TABLE sale_line RENAME COLUMN qty TO quantity;
SELECT counter_column, sum_column FROM counterfield.counters
 WHERE parent = 'sale_order'::regclass AND counter_column = 'units';
INSERT INTO sale_line VALUES (2, 2, 1.00, 5, 5, 5, NULL);
ALTER TABLE sale_line ALTER COLUMN quantity TYPE bigint;
INSERT INTO sale_line VALUES (3, 2, 1.00, 6, 6, 6, NULL);
SELECT sum_mismatches('sale_order', 'units', 'sale_line', 'order_id', 'quantity');
ALTER TABLE sale_line ALTER COLUMN quantity TYPE text;
ALTER TABLE sale_line ALTER COLUMN price TYPE numeric(10,3);
ALTER TABLE sale_line ALTER COLUMN price TYPE numeric;
SELECT sum_mismatches('sale_order', 'units', 'sale_line', 'order_id', 'quantity'),
       sum_mismatches('sale_order', 'total', 'sale_line', 'order_id', 'price');
ALTER TABLE sale_line DROP COLUMN quantity;
SELECT counter_column, sum_column FROM counterfield.counters
 WHERE parent = 'sale_order'::regclass ORDER BY id;

-- dropping the tables drops their counters
DROP TABLE sale_line, sale_order, tab_entry, tab, ledger_entry, wallet, coin, jar, vault, node,
           bad_child, bad_parent CASCADE;
SELECT count(*) AS counters_left FROM counterfield.counters;
