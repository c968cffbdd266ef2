-- Counters through intermediate tables (through): products per company
-- through product -> category -> company, and sales per country through
-- sale -> shop -> city -> country.  Truth is count(*) (or sum()) over the
-- joins; for deferred counters the value is the column plus the unfolded deltas.
CREATE TABLE company (id int PRIMARY KEY, products int NOT NULL DEFAULT 0,
                      products_tx int NOT NULL DEFAULT 0, products_df int NOT NULL DEFAULT 0,
                      stock numeric(14,2) NOT NULL DEFAULT 0);
CREATE TABLE category (id int PRIMARY KEY, company_id int REFERENCES company ON DELETE CASCADE
                       ON UPDATE CASCADE, name text);
CREATE TABLE product (id int PRIMARY KEY, category_id int REFERENCES category ON DELETE CASCADE
                      ON UPDATE CASCADE, price numeric(8,2), active boolean NOT NULL DEFAULT true);
CREATE INDEX ON category (company_id);
CREATE INDEX ON product (category_id);
INSERT INTO company (id) SELECT g FROM generate_series(1, 4) g;
INSERT INTO category SELECT g, 1 + g % 3, 'c' || g FROM generate_series(1, 9) g;
INSERT INTO product SELECT g, 1 + g % 9, g * 1.25, g % 5 <> 0 FROM generate_series(1, 60) g;
SELECT counterfield.add_counter('company', 'products', 'product', through => '{category}');
SELECT counterfield.add_counter('company', 'products_tx', 'product', through => '{category}',
                                flush => 'transaction');
SELECT counterfield.add_counter('company', 'products_df', 'product', through => '{category}',
                                flush => 'deferred');
SELECT counterfield.add_counter('company', 'stock', 'product', through => '{category}',
                                sum_column => 'price', condition => 'active');
SELECT counter_column, child, fk_columns, parent_columns, sum_column, through
  FROM counterfield.counters WHERE parent = 'company'::regclass ORDER BY id;
SELECT through, through_fks FROM counterfield.counter WHERE parent = 'company'::regclass LIMIT 1;

CREATE VIEW check_company AS
  WITH t AS (SELECT c.id, count(p.id) AS n, COALESCE(sum(p.price) FILTER (WHERE p.active), 0) AS s
               FROM company c LEFT JOIN category k ON k.company_id = c.id
               LEFT JOIN product p ON p.category_id = k.id GROUP BY c.id),
       u AS (SELECT parent_key, delta FROM counterfield.unfolded('company', 'products_df'))
  SELECT count(*) FILTER (WHERE (c.products, c.products_tx, c.products_df + COALESCE(u.delta, 0),
                                 c.stock) IS DISTINCT FROM (t.n, t.n, t.n, t.s)) AS mismatches,
         string_agg(c.id || ':' || c.products || '/' || c.stock, ' ' ORDER BY c.id) AS counts
    FROM company c JOIN t ON t.id = c.id
    LEFT JOIN u ON u.parent_key = CAST(ROW(c.id) AS text);
SELECT * FROM check_company;

-- child writes: insert, move to another category, flip the condition, change the sum, delete
INSERT INTO product VALUES (100, 1, 10.00, true), (101, 2, 20.00, true), (102, NULL, 1.00, true);
UPDATE product SET category_id = 4 WHERE id % 7 = 0;
UPDATE product SET active = NOT active WHERE id % 6 = 0;
UPDATE product SET price = price + 1 WHERE id % 4 = 0;
DELETE FROM product WHERE id % 11 = 0;
SELECT * FROM check_company;

-- an intermediate moves to another parent: its products go with it, one
-- parent update per affected parent
CREATE TRIGGER note_company AFTER UPDATE ON company FOR EACH ROW EXECUTE FUNCTION note_update();
DELETE FROM parent_updates;
UPDATE category SET company_id = 4 WHERE id = 1;
SELECT * FROM parent_updates;
SELECT * FROM check_company;
-- writes to an intermediate that move nothing update no parent
DELETE FROM parent_updates;
UPDATE category SET name = upper(name);
UPDATE category SET company_id = company_id WHERE id < 5;
SELECT count(*) AS parent_updates FROM parent_updates;
-- several intermediates move at once, some back and forth
UPDATE category SET company_id = CASE company_id WHEN 4 THEN 2 WHEN 2 THEN 4 ELSE company_id END;
SELECT * FROM check_company;

-- new intermediates, children under them, NULL links
INSERT INTO category VALUES (20, 3, 'new'), (21, NULL, 'orphan');
INSERT INTO product VALUES (200, 20, 2.00, true), (201, 21, 3.00, true), (202, 20, NULL, true);
UPDATE category SET company_id = 1 WHERE id = 21;
UPDATE category SET company_id = NULL WHERE id = 20;
SELECT * FROM check_company;

-- an intermediate's key changes, and ON UPDATE CASCADE carries its products
UPDATE category SET id = 90 WHERE id = 3;
SELECT * FROM check_company;
-- deleting an intermediate cascades to its products
DELETE FROM category WHERE id = 2;
SELECT * FROM check_company;
-- deleting a parent cascades through the chain
DELETE FROM company WHERE id = 2;
INSERT INTO company (id) VALUES (2);
SELECT * FROM check_company;

-- a writable CTE that moves a category and writes products of it in one statement
WITH m AS (UPDATE category SET company_id = 3 WHERE id = 4 RETURNING id)
INSERT INTO product SELECT 600 + g, m.id, 1.00, true FROM m, generate_series(1, 3) g;
WITH i AS (INSERT INTO product VALUES (610, 4, 2.00, true) RETURNING category_id)
UPDATE category SET company_id = 4 WHERE id IN (SELECT category_id FROM i);
SELECT * FROM check_company;
-- a parent's key change, carried to its categories by ON UPDATE CASCADE
UPDATE company SET id = 7 WHERE id = 3;
UPDATE company SET id = 3 WHERE id = 7;
SELECT * FROM check_company;

-- user code that writes products while a category moves, or moves a
-- category while products are written: a trigger on the category, a
-- function in the UPDATE, a trigger on the product
CREATE FUNCTION add_product_bu() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO product VALUES (700 + NEW.id, NEW.id, 7.00, true);
    RETURN NEW;
END $$;
CREATE TRIGGER add_product_bu BEFORE UPDATE ON category FOR EACH ROW
    WHEN (OLD.company_id IS DISTINCT FROM NEW.company_id) EXECUTE FUNCTION add_product_bu();
UPDATE category SET company_id = 1 WHERE id = 4;
DROP TRIGGER add_product_bu ON category;
CREATE FUNCTION add_product(category int, target int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO product VALUES (800 + category, category, 8.00, true);
    RETURN target;
END $$;
UPDATE category SET company_id = add_product(id, 3) WHERE id = 4;
CREATE FUNCTION move_category_ai() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE category SET company_id = 4 WHERE id = NEW.category_id;
    RETURN NULL;
END $$;
CREATE TRIGGER move_category_ai AFTER INSERT ON product FOR EACH ROW
    EXECUTE FUNCTION move_category_ai();
INSERT INTO product VALUES (900, 4, 9.00, true);
DROP TRIGGER move_category_ai ON product;
SELECT * FROM check_company;
-- more such user code: a move to and from NULL, a delete and a key change
-- whose BEFORE triggers write products, an AFTER trigger and a function in
-- RETURNING that write products under the moved category, and a product
-- trigger that writes a product and then moves its category
CREATE TRIGGER add_product_bu BEFORE UPDATE OR DELETE ON category FOR EACH ROW
    EXECUTE FUNCTION add_product_bu();
CREATE OR REPLACE FUNCTION add_product_bu() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO product VALUES (1000 + (SELECT count(*) FROM product), OLD.id, 1.00, true);
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
UPDATE category SET company_id = NULL WHERE id = 4;
UPDATE category SET company_id = 3 WHERE id = 4;
UPDATE category SET id = 40 WHERE id = 4;
UPDATE category SET id = 4 WHERE id = 40;
INSERT INTO category VALUES (30, 1, 'short-lived');
DELETE FROM category WHERE id = 30;
DROP TRIGGER add_product_bu ON category;
SELECT * FROM check_company;
CREATE FUNCTION add_product_au() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO product VALUES (1100 + (SELECT count(*) FROM product), NEW.id, 1.00, true);
    RETURN NULL;
END $$;
CREATE TRIGGER add_product_au AFTER UPDATE ON category FOR EACH ROW
    EXECUTE FUNCTION add_product_au();
UPDATE category SET company_id = 1 WHERE id = 4;
DROP TRIGGER add_product_au ON category;
CREATE FUNCTION add_product_r(category int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO product VALUES (1150, category, 1.00, true);
    RETURN category;
END $$;
UPDATE category SET company_id = 4 WHERE id = 4 RETURNING add_product_r(id);
CREATE FUNCTION add_and_move_ai() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = 1200 THEN
        INSERT INTO product VALUES (1201, NEW.category_id, 1.00, true);
        UPDATE category SET company_id = 3 WHERE id = NEW.category_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER add_and_move_ai AFTER INSERT ON product FOR EACH ROW
    EXECUTE FUNCTION add_and_move_ai();
INSERT INTO product VALUES (1200, 4, 1.00, true);
DROP TRIGGER add_and_move_ai ON product;
SELECT * FROM check_company;
-- a category that is also a parent: a trigger moves it when counterfield
-- updates its own counter
ALTER TABLE category ADD COLUMN product_count int NOT NULL DEFAULT 0;
SELECT counterfield.add_counter('category', 'product_count', 'product');
CREATE FUNCTION big_category_au() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.product_count >= 12 AND NEW.company_id = 4 THEN
        UPDATE category SET company_id = 1 WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER big_category_au AFTER UPDATE ON category FOR EACH ROW
    EXECUTE FUNCTION big_category_au();
INSERT INTO product SELECT 950 + g, 4, 1.00, true FROM generate_series(1, 5) g;
SELECT id, company_id, product_count FROM category WHERE id = 4;
DROP TRIGGER big_category_au ON category;
SELECT counterfield.drop_counter('category', 'product_count');
SELECT * FROM check_company;

-- savepoints: a rolled-back move is undone exactly
BEGIN;
UPDATE category SET company_id = 3 WHERE id = 4;
SAVEPOINT s;
UPDATE category SET company_id = 1 WHERE company_id = 3;
INSERT INTO product VALUES (300, 4, 5.00, true);
ROLLBACK TO SAVEPOINT s;
INSERT INTO product VALUES (301, 4, 6.00, true);
COMMIT;
SELECT * FROM check_company;

-- a transaction that writes children, then moves their intermediate
BEGIN;
INSERT INTO product VALUES (400, 5, 1.00, true), (401, 5, 2.00, true);
UPDATE category SET company_id = 3 WHERE id = 5;
DELETE FROM product WHERE id = 400;
UPDATE category SET company_id = 1 WHERE id = 5;
COMMIT;
SELECT * FROM check_company;

-- verify(), reinit(), fold()
SELECT * FROM counterfield.verify('company');
SET counterfield.enabled = off;
INSERT INTO product VALUES (500, 4, 50.00, true);
UPDATE category SET company_id = 3 WHERE id = 6;
RESET counterfield.enabled;
SELECT counter_column, parent_key, stored, actual FROM counterfield.verify('company') ORDER BY 1, 2;
SELECT counterfield.reinit('company', 'products'), counterfield.reinit('company', 'products_tx'),
       counterfield.reinit('company', 'products_df'), counterfield.reinit('company', 'stock');
SELECT * FROM counterfield.verify('company');
SELECT counterfield.fold('company') >= 0 AS folded;
SELECT * FROM check_company;

-- TRUNCATE of an intermediate (with its products): every count becomes 0
TRUNCATE category CASCADE;
SELECT * FROM check_company;
INSERT INTO category VALUES (1, 1, 'a'), (2, 2, 'b');
INSERT INTO product VALUES (1, 1, 1.00, true), (2, 2, 2.00, true), (3, 2, 3.00, true);
SELECT * FROM check_company;

-- two intermediates: sales per country through sale -> shop -> city -> country
CREATE TABLE country (code text PRIMARY KEY, sales int NOT NULL DEFAULT 0,
                      revenue bigint NOT NULL DEFAULT 0);
CREATE TABLE city (id int PRIMARY KEY, country_code text REFERENCES country ON DELETE SET NULL);
CREATE TABLE shop (id int PRIMARY KEY, city_id int REFERENCES city ON DELETE CASCADE);
CREATE TABLE sale (id int PRIMARY KEY, shop_id int REFERENCES shop ON DELETE SET NULL,
                   amount int);
CREATE INDEX ON city (country_code);
CREATE INDEX ON shop (city_id);
CREATE INDEX ON sale (shop_id);
INSERT INTO country (code) VALUES ('de'), ('fr'), ('it');
INSERT INTO city SELECT g, (ARRAY['de', 'fr', 'it'])[1 + g % 3] FROM generate_series(1, 6) g;
INSERT INTO shop SELECT g, 1 + g % 6 FROM generate_series(1, 12) g;
INSERT INTO sale SELECT g, 1 + g % 12, g FROM generate_series(1, 120) g;
SELECT counterfield.add_counter('country', 'sales', 'sale', through => '{shop,city}');
SELECT counterfield.add_counter('country', 'revenue', 'sale', through => '{shop,city}',
                                sum_column => 'amount', flush => 'transaction');
CREATE VIEW check_country AS
  WITH t AS (SELECT co.code, count(s.id) AS n, COALESCE(sum(s.amount), 0) AS r
               FROM country co LEFT JOIN city ci ON ci.country_code = co.code
               LEFT JOIN shop sh ON sh.city_id = ci.id LEFT JOIN sale s ON s.shop_id = sh.id
              GROUP BY co.code)
  SELECT count(*) FILTER (WHERE (co.sales, co.revenue) IS DISTINCT FROM (t.n, t.r)) AS mismatches,
         string_agg(co.code || ':' || co.sales || '/' || co.revenue, ' ' ORDER BY co.code) AS counts
    FROM country co JOIN t ON t.code = co.code;
SELECT * FROM check_country;
-- moves at every level
UPDATE sale SET shop_id = 1 WHERE id % 10 = 0;
UPDATE shop SET city_id = 2 WHERE id IN (3, 4);
UPDATE city SET country_code = 'it' WHERE id = 1;
SELECT * FROM check_country;
-- deletes at every level: SET NULL below a city's country, CASCADE below a shop's city
DELETE FROM country WHERE code = 'fr';
INSERT INTO country (code) VALUES ('fr');
UPDATE city SET country_code = 'fr' WHERE country_code IS NULL;
SELECT * FROM check_country;
DELETE FROM city WHERE id = 3;
DELETE FROM shop WHERE id = 5;
SELECT * FROM check_country;
SELECT * FROM counterfield.verify('country');
-- one statement that writes both intermediates: a writable CTE, and a
-- shop trigger that moves the shop's new city
WITH a AS (UPDATE shop SET city_id = 4 WHERE id = 3 RETURNING 1)
UPDATE city SET country_code = 'de' WHERE id = 4;
SELECT * FROM check_country;
CREATE FUNCTION move_city_au() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE city SET country_code = 'fr' WHERE id = NEW.city_id;
    RETURN NULL;
END $$;
CREATE TRIGGER move_city_au AFTER UPDATE OF city_id ON shop FOR EACH ROW
    EXECUTE FUNCTION move_city_au();
UPDATE shop SET city_id = 6 WHERE id = 4;
DROP TRIGGER move_city_au ON shop;
SELECT * FROM check_country;
-- a COPY into an intermediate earlier in the transaction, then a move
-- whose RETURNING writes sales
CREATE FUNCTION add_sale(shop int) RETURNS int LANGUAGE sql AS
    $$ INSERT INTO sale VALUES (2000 + shop, shop, 1) RETURNING shop $$;
BEGIN;
COPY city FROM stdin;
50	it
\.
UPDATE shop SET city_id = 50 WHERE id = 6 RETURNING add_sale(id);
-- the statement-mode count is exact at once (revenue waits for commit)
SELECT co.code, co.sales, count(s.id) AS truth
  FROM country co LEFT JOIN city ci ON ci.country_code = co.code
  LEFT JOIN shop sh ON sh.city_id = ci.id LEFT JOIN sale s ON s.shop_id = sh.id
 GROUP BY 1, 2 ORDER BY 1;
COMMIT;
SELECT * FROM check_country;

-- an intermediate table given to another role is not read as the child's
-- owner: writes fail until the tables have one owner again
CREATE ROLE cf_chain_other;
ALTER TABLE city OWNER TO cf_chain_other;
INSERT INTO sale VALUES (900, 1, 9);
UPDATE shop SET city_id = 4 WHERE id = 1;
\set VERBOSITY terse
SELECT counter_column, count(*) FROM counterfield.verify('country') GROUP BY 1;
\set VERBOSITY default
ALTER TABLE city OWNER TO CURRENT_USER;
INSERT INTO sale VALUES (900, 1, 9);
SELECT * FROM check_country;
-- and add_counter refuses such a chain
ALTER TABLE city OWNER TO cf_chain_other;
ALTER TABLE country ADD COLUMN n2 int;
SELECT counterfield.add_counter('country', 'n2', 'sale', through => '{shop,city}');
ALTER TABLE city OWNER TO CURRENT_USER;

-- refused definitions
CREATE TABLE lone (id int PRIMARY KEY, n int);
CREATE TABLE loner (id int PRIMARY KEY, lone_id int REFERENCES lone);
SELECT counterfield.add_counter('company', 'products', 'product', fk_columns => '{category_id}',
                                through => '{category}');
SELECT counterfield.add_counter('lone', 'n', 'product', through => '{category}');
SELECT counterfield.add_counter('company', 'products', 'loner', through => '{category}');
SELECT counterfield.add_counter('company', 'products', 'product', through => '{product}');
SELECT counterfield.add_counter('company', 'products', 'product', through => '{category,category}');
SELECT counterfield.add_counter('company', 'products', 'product', through => '{}');
CREATE TABLE twice (id int PRIMARY KEY, a int REFERENCES company, b int REFERENCES company);
CREATE TABLE under_twice (id int PRIMARY KEY, twice_id int REFERENCES twice);
ALTER TABLE company ADD COLUMN twice_n int;
SELECT counterfield.add_counter('company', 'twice_n', 'under_twice', through => '{twice}');
CREATE TABLE part_mid (id int PRIMARY KEY, company_id int REFERENCES company) PARTITION BY RANGE (id);
CREATE TABLE under_part (id int PRIMARY KEY, part_mid_id int REFERENCES part_mid);
SELECT counterfield.add_counter('company', 'twice_n', 'under_part', through => '{part_mid}');

-- DDL: renaming the hop's foreign key is followed; dropping it, or the
-- intermediate table, drops the counter and its triggers
ALTER TABLE sale RENAME CONSTRAINT sale_shop_id_fkey TO sale_in_shop;
SELECT through_fks FROM counterfield.counter WHERE parent = 'country'::regclass LIMIT 1;
INSERT INTO sale VALUES (1000, 1, 1000);
SELECT * FROM check_country;
ALTER TABLE shop DROP CONSTRAINT shop_city_id_fkey;
SELECT counter_column FROM counterfield.counters WHERE parent = 'country'::regclass;
SELECT tgrelid::regclass, count(*) FROM pg_trigger
 WHERE tgname LIKE '%counterfield%' AND tgrelid IN ('sale'::regclass, 'shop'::regclass,
                                                    'city'::regclass, 'country'::regclass)
 GROUP BY 1 ORDER BY 1;
DROP TABLE category CASCADE;
SELECT counter_column FROM counterfield.counters WHERE parent = 'company'::regclass;
SELECT tgrelid::regclass, count(*) FROM pg_trigger
 WHERE tgname LIKE '%counterfield%' AND tgrelid IN ('product'::regclass, 'company'::regclass)
 GROUP BY 1 ORDER BY 1;

-- a deferred counter through a chain never writes its parent row, also
-- when nested writes make its parents be counted again (a cascade here)
CREATE TABLE d_top (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE d_mid (id int PRIMARY KEY, d_top_id int REFERENCES d_top);
CREATE TABLE d_low (id int PRIMARY KEY, d_mid_id int REFERENCES d_mid ON DELETE CASCADE);
CREATE INDEX ON d_low (d_mid_id);
INSERT INTO d_top (id) VALUES (1), (2);
INSERT INTO d_mid VALUES (1, 1), (2, 1), (3, 2);
INSERT INTO d_low SELECT g, 1 + g % 3 FROM generate_series(1, 30) g;
SELECT counterfield.add_counter('d_top', 'n', 'd_low', through => '{d_mid}', flush => 'deferred');
CREATE TRIGGER note_d_top AFTER UPDATE ON d_top FOR EACH ROW EXECUTE FUNCTION note_update();
DELETE FROM parent_updates;
DELETE FROM d_mid WHERE id = 1;
UPDATE d_mid SET d_top_id = 2 WHERE id = 2;
SELECT count(*) AS parent_updates FROM parent_updates;
SELECT t.id, t.n + COALESCE(u.delta, 0) AS n,
       (SELECT count(*) FROM d_low l JOIN d_mid m ON m.id = l.d_mid_id WHERE m.d_top_id = t.id)
         AS truth
  FROM d_top t LEFT JOIN counterfield.unfolded('d_top', 'n') u
    ON u.parent_key = CAST(ROW(t.id) AS text) ORDER BY 1;
DROP TABLE d_low, d_mid, d_top;

-- one statement creates a parent and moves a category to it, and a trigger
-- on the category writes a product under it: a new parent's own check and
-- the chain's recount of the same key both run
CREATE TABLE n_top (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE n_mid (id int PRIMARY KEY, n_top_id int REFERENCES n_top);
CREATE TABLE n_low (id serial PRIMARY KEY, n_mid_id int REFERENCES n_mid);
INSERT INTO n_top (id) VALUES (1), (2);
INSERT INTO n_mid VALUES (1, 1);
INSERT INTO n_low (n_mid_id) VALUES (1), (1);
SELECT counterfield.add_counter('n_top', 'n', 'n_low', through => '{n_mid}');
CREATE FUNCTION n_mid_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO n_low (n_mid_id) VALUES (NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER n_mid_moved AFTER UPDATE ON n_mid FOR EACH ROW EXECUTE FUNCTION n_mid_moved();
WITH x AS (INSERT INTO n_top VALUES (3) RETURNING id)
UPDATE n_mid SET n_top_id = (SELECT id FROM x) WHERE id = 1;
SELECT t.id, t.n, (SELECT count(*) FROM n_low l JOIN n_mid m ON m.id = l.n_mid_id
                    WHERE m.n_top_id = t.id) AS truth FROM n_top t ORDER BY 1;
DROP TABLE n_low, n_mid, n_top;

-- a hop whose key types stop being binary compatible pauses the counter,
-- which verify() says; making them fit again recomputes it
CREATE TABLE p_top (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE p_mid (id int PRIMARY KEY, p_top_id int REFERENCES p_top);
CREATE TABLE p_low (id int PRIMARY KEY, p_mid_id int REFERENCES p_mid);
INSERT INTO p_top (id) VALUES (1);
INSERT INTO p_mid VALUES (1, 1);
SELECT counterfield.add_counter('p_top', 'n', 'p_low', through => '{p_mid}');
-- a hop's foreign key rebuilt by ALTER COLUMN ... TYPE keeps counting
ALTER TABLE p_mid ALTER COLUMN p_top_id TYPE int USING p_top_id + 0;
INSERT INTO p_low VALUES (2, 1);
SELECT n, (SELECT count(*) FROM p_low) AS truth FROM p_top;
ALTER TABLE p_mid ALTER COLUMN p_top_id TYPE bigint;
INSERT INTO p_low VALUES (1, 1);
SELECT * FROM counterfield.verify('p_top');
ALTER TABLE p_mid ALTER COLUMN p_top_id TYPE int;
SELECT n, (SELECT count(*) FROM p_low) AS truth FROM p_top;
SELECT * FROM counterfield.verify('p_top');
DROP TABLE p_low, p_mid, p_top;

DROP TABLE sale, shop, city, country, product, company, lone, loner, twice, under_twice,
           part_mid, under_part CASCADE;
SELECT count(*) AS counters_left FROM counterfield.counters;
DROP ROLE cf_chain_other;
