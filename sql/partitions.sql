-- Partitioned tables as child and as parent; rows moving between partitions
-- count once; ATTACH and DETACH are followed by reinit.
CREATE TABLE region (id int PRIMARY KEY, order_count int) PARTITION BY RANGE (id);
CREATE TABLE region_low PARTITION OF region FOR VALUES FROM (0) TO (100);
CREATE TABLE region_high PARTITION OF region FOR VALUES FROM (100) TO (200);
CREATE TABLE orders (id int, region_id int REFERENCES region, status text,
                     PRIMARY KEY (id, status)) PARTITION BY LIST (status);
CREATE TABLE orders_open PARTITION OF orders FOR VALUES IN ('open');
CREATE TABLE orders_done PARTITION OF orders FOR VALUES IN ('done');
INSERT INTO region VALUES (1), (150);
SELECT counterfield.add_counter('region', 'order_count', 'orders');
-- a partition cannot be the child
SELECT counterfield.add_counter('region', 'order_count', 'orders_open');
INSERT INTO orders VALUES (1, 1, 'open'), (2, 1, 'open'), (3, 150, 'done');
-- moving rows between partitions of the child counts them once
UPDATE orders SET status = 'done' WHERE id = 1;
UPDATE orders SET status = 'open', region_id = 150 WHERE id = 2;
-- a new parent row in a partition gets its true count; the guard holds there
INSERT INTO region VALUES (50, 7);
INSERT INTO orders VALUES (4, 50, 'open');
UPDATE region SET order_count = 99 WHERE id = 1;
SELECT r.*, (SELECT count(*) FROM orders o WHERE o.region_id = r.id) AS truth
  FROM region r ORDER BY id;
DELETE FROM orders WHERE id = 3;
SELECT mismatches('region', 'order_count', 'orders', 'region_id') AS mismatches;
-- attaching a partition with rows brings uncounted rows: reinit counts them
CREATE TABLE orders_lost (LIKE orders);
INSERT INTO orders_lost VALUES (5, 1, 'lost'), (6, 150, 'lost');
ALTER TABLE orders ATTACH PARTITION orders_lost FOR VALUES IN ('lost');
SELECT count(*) AS drifted FROM counterfield.verify('region');
SELECT counterfield.reinit('region', 'order_count');
ALTER TABLE orders DETACH PARTITION orders_lost;
SELECT counterfield.reinit('region', 'order_count');
SELECT mismatches('region', 'order_count', 'orders', 'region_id') AS mismatches;
TRUNCATE orders;
SELECT * FROM region ORDER BY id;
SELECT counterfield.drop_counter('region', 'order_count');
DROP TABLE orders, orders_lost, region;
