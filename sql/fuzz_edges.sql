-- A second differential fuzzer, for the edges: a partitioned child written
-- through the partitions as well as the root, partitions detached and
-- attached again, numeric keys spelled several ways, parents inserted and
-- deleted while their children stay (no foreign key), savepoints.  After
-- every transaction every counter must equal count(*).  Deterministic
-- through setseed().
CREATE TABLE ep (id numeric PRIMARY KEY, c_stmt int, c_tx int, c_cond int);
CREATE TABLE ec (id serial, ep_id numeric, part int NOT NULL, v int) PARTITION BY LIST (part);
CREATE TABLE ec0 PARTITION OF ec FOR VALUES IN (0);
CREATE TABLE ec1 PARTITION OF ec FOR VALUES IN (1);
CREATE TABLE ec2 (v int, junk int, part int NOT NULL, ep_id numeric, id int NOT NULL
                  DEFAULT nextval('ec_id_seq'));
ALTER TABLE ec2 DROP COLUMN junk;
ALTER TABLE ec ATTACH PARTITION ec2 FOR VALUES IN (2);
INSERT INTO ep (id) SELECT g FROM generate_series(1, 12) g;
SELECT counterfield.add_counter('ep', 'c_stmt', 'ec', fk_columns => '{ep_id}');
SELECT counterfield.add_counter('ep', 'c_tx', 'ec', fk_columns => '{ep_id}', flush => 'transaction');
SELECT counterfield.add_counter('ep', 'c_cond', 'ec', fk_columns => '{ep_id}', condition => 'v > 2',
                                flush => 'transaction');

CREATE FUNCTION edge_mismatches() RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM ep p
   WHERE p.c_stmt IS DISTINCT FROM (SELECT count(*) FROM ec c WHERE c.ep_id = p.id)
      OR p.c_tx IS DISTINCT FROM (SELECT count(*) FROM ec c WHERE c.ep_id = p.id)
      OR p.c_cond IS DISTINCT FROM (SELECT count(*) FROM ec c WHERE c.ep_id = p.id AND v > 2)
$$;

-- A key between 1 and 14, spelled 7, 7.0 or 7.00.
CREATE FUNCTION edge_key() RETURNS numeric LANGUAGE sql AS $$
  SELECT round((1 + (random() * 13)::int)::numeric, (random() * 2)::int)
$$;

-- One random write, or a partition detached or attached again.
CREATE FUNCTION edge_write() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
    k int := 1 + (random() * 6)::int;
    attached boolean := EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = 'ec1'::regclass);
BEGIN
    IF r < 0.20 THEN
        INSERT INTO ec (ep_id, part, v)
          SELECT edge_key(), (random() * 2)::int, (random() * 5)::int FROM generate_series(1, k);
    ELSIF r < 0.30 THEN
        INSERT INTO ec0 (ep_id, part, v) SELECT edge_key(), 0, (random() * 5)::int
          FROM generate_series(1, k);
    ELSIF r < 0.38 THEN
        INSERT INTO ec2 (ep_id, part, v) SELECT edge_key(), 2, (random() * 5)::int
          FROM generate_series(1, k);
    ELSIF r < 0.48 THEN
        UPDATE ec SET part = (random() * 2)::int, v = (random() * 5)::int
         WHERE id IN (SELECT id FROM ec ORDER BY random() LIMIT k);
    ELSIF r < 0.55 THEN
        UPDATE ec2 SET ep_id = edge_key() WHERE id IN (SELECT id FROM ec2 ORDER BY random() LIMIT k);
    ELSIF r < 0.62 THEN
        DELETE FROM ec WHERE id IN (SELECT id FROM ec ORDER BY random() LIMIT k);
    ELSIF r < 0.66 THEN
        DELETE FROM ec0 WHERE id IN (SELECT id FROM ec0 ORDER BY random() LIMIT k);
    ELSIF r < 0.74 THEN
        INSERT INTO ep (id, c_stmt, c_tx) VALUES (edge_key(), 99, 99) ON CONFLICT DO NOTHING;
    ELSIF r < 0.79 THEN
        DELETE FROM ep WHERE id = (SELECT id FROM ep ORDER BY random() LIMIT 1);
    ELSIF r < 0.83 THEN
        UPDATE ep SET id = (SELECT max(id) + 1 FROM ep) WHERE id = edge_key();
    ELSIF r < 0.86 THEN
        TRUNCATE ec0;
    ELSIF r < 0.93 THEN
        IF attached THEN
            ALTER TABLE ec DETACH PARTITION ec1;
        ELSE
            ALTER TABLE ec ATTACH PARTITION ec1 FOR VALUES IN (1);
        END IF;
    ELSIF attached THEN
        INSERT INTO ec1 (ep_id, part, v) SELECT edge_key(), 1, 4 FROM generate_series(1, k);
    END IF;
END $$;

CREATE PROCEDURE edge_fuzz(n int) LANGUAGE plpgsql AS $$
DECLARE
    bad bigint;
BEGIN
    FOR i IN 1..n LOOP
        FOR j IN 1..(1 + (random() * 4)::int) LOOP
            BEGIN
                PERFORM edge_write();
                IF random() < 0.2 THEN
                    PERFORM edge_write();
                    RAISE EXCEPTION 'roll back this block';
                END IF;
            EXCEPTION WHEN raise_exception OR unique_violation OR check_violation THEN
                NULL;
            END;
        END LOOP;
        IF random() < 0.2 THEN
            ROLLBACK;
        ELSE
            COMMIT;
        END IF;
        bad := edge_mismatches();
        IF bad <> 0 THEN
            RAISE EXCEPTION 'counters drifted after transaction %: % mismatches', i, bad;
        END IF;
    END LOOP;
END $$;

SELECT setseed(0.17);
CALL edge_fuzz(250);
SELECT edge_mismatches() AS mismatches, (SELECT last_value > 300 FROM ec_id_seq) AS wrote_children;
SELECT * FROM counterfield.verify('ep');

DROP PROCEDURE edge_fuzz(int);
DROP FUNCTION edge_write(), edge_key(), edge_mismatches();
DROP TABLE IF EXISTS ec1;
DROP TABLE ec, ep;
