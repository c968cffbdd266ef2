-- A differential fuzzer: random writes, savepoints (exception blocks),
-- commits and rollbacks; after every transaction every counter must equal
-- count(*) (or sum()), also through an intermediate table (fc -> fp -> fg).
-- Deterministic through setseed().
CREATE TABLE fg (id int PRIMARY KEY, n_chain int, s_chain_tx numeric(14,2));
INSERT INTO fg (id) SELECT g FROM generate_series(1, 4) g;
CREATE TABLE fp (id int PRIMARY KEY, grp int, c_stmt int, c_tx int, c_cond bigint, c_self int,
                 parent_id int, s_amt numeric(12,2), s_v_tx bigint,
                 fg_id int REFERENCES fg ON DELETE SET NULL);
CREATE TABLE fc (id serial PRIMARY KEY, fp_id int REFERENCES fp ON DELETE CASCADE,
                 flag boolean NOT NULL DEFAULT false, v int, amt numeric(6,2));
CREATE INDEX ON fc (fp_id);
INSERT INTO fp (id, grp, fg_id) SELECT g, g % 3, 1 + g % 4 FROM generate_series(1, 20) g;
SELECT counterfield.add_counter('fp', 'c_stmt', 'fc');
SELECT counterfield.add_counter('fp', 'c_tx', 'fc', flush => 'transaction');
SELECT counterfield.add_counter('fp', 'c_cond', 'fc', condition => 'flag AND v > 3',
                                flush => 'transaction');
SELECT counterfield.add_counter('fp', 'c_self', 'fp', fk_columns => '{parent_id}',
                                parent_columns => '{id}');
SELECT counterfield.add_counter('fp', 's_amt', 'fc', sum_column => 'amt');
SELECT counterfield.add_counter('fp', 's_v_tx', 'fc', sum_column => 'v', condition => 'flag',
                                flush => 'transaction');
SELECT counterfield.add_counter('fg', 'n_chain', 'fc', through => '{fp}');
SELECT counterfield.add_counter('fg', 's_chain_tx', 'fc', through => '{fp}', sum_column => 'amt',
                                condition => 'flag', flush => 'transaction');

-- The truth is read after every transaction: compiling its plan each time
-- would take longer than reading it.
CREATE FUNCTION fuzz_mismatches() RETURNS bigint LANGUAGE sql SET jit = off AS $$
  SELECT mismatches('fp', 'c_stmt', 'fc', 'fp_id')
       + mismatches('fp', 'c_tx', 'fc', 'fp_id')
       + mismatches('fp', 'c_cond', 'fc', 'fp_id', 'id', 'flag AND v > 3')
       + mismatches('fp', 'c_self', 'fp', 'parent_id')
       + (SELECT count(*) FROM fp p
           WHERE (s_amt, s_v_tx) IS DISTINCT FROM
                 ((SELECT COALESCE(sum(amt), 0) FROM fc WHERE fc.fp_id = p.id),
                  (SELECT COALESCE(sum(v), 0) FROM fc WHERE fc.fp_id = p.id AND flag)))
       + (SELECT count(*) FROM fg g
           WHERE (n_chain, s_chain_tx) IS DISTINCT FROM
                 ((SELECT count(*) FROM fc JOIN fp ON fp.id = fc.fp_id WHERE fp.fg_id = g.id),
                  (SELECT COALESCE(sum(amt), 0) FROM fc JOIN fp ON fp.id = fc.fp_id
                    WHERE fp.fg_id = g.id AND flag)))
$$;

-- One random write.
CREATE FUNCTION fuzz_write() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r float8 := random();
    k int := 1 + (random() * 30)::int;
BEGIN
    IF r < 0.30 THEN
        INSERT INTO fc (fp_id, flag, v, amt)
          SELECT (SELECT id FROM fp ORDER BY random() LIMIT 1), random() < 0.5, (random() * 6)::int,
                 CASE WHEN random() < 0.9 THEN round((random() * 200 - 50)::numeric, 2) END
            FROM generate_series(1, k);
    ELSIF r < 0.45 THEN
        UPDATE fc SET fp_id = (SELECT id FROM fp ORDER BY random() LIMIT 1)
         WHERE id IN (SELECT id FROM fc ORDER BY random() LIMIT k);
    ELSIF r < 0.55 THEN
        UPDATE fc SET flag = NOT flag, v = (random() * 6)::int,
                      amt = CASE WHEN random() < 0.5 THEN amt ELSE round((random() * 99)::numeric, 2) END
         WHERE id IN (SELECT id FROM fc ORDER BY random() LIMIT k);
    ELSIF r < 0.65 THEN
        DELETE FROM fc WHERE id IN (SELECT id FROM fc ORDER BY random() LIMIT k);
    ELSIF r < 0.72 THEN
        INSERT INTO fp (id, grp, c_stmt, parent_id, fg_id)
          SELECT (SELECT coalesce(max(id), 0) + 1 FROM fp), 0, 999,
                 (SELECT id FROM fp ORDER BY random() LIMIT 1),
                 (SELECT id FROM fg ORDER BY random() LIMIT 1);
    ELSIF r < 0.77 THEN
        DELETE FROM fp WHERE id = (SELECT id FROM fp ORDER BY random() LIMIT 1)
           AND (SELECT count(*) FROM fp) > 5;
    ELSIF r < 0.84 THEN
        UPDATE fp SET parent_id = (SELECT id FROM fp ORDER BY random() LIMIT 1),
                      fg_id = CASE WHEN random() < 0.9 THEN 1 + (random() * 3)::int END
         WHERE id IN (SELECT id FROM fp ORDER BY random() LIMIT 3);
    ELSIF r < 0.88 THEN
        UPDATE fp SET c_stmt = 0, c_tx = NULL, s_amt = 7, grp = grp + 1
         WHERE id = (SELECT id FROM fp ORDER BY random() LIMIT 1);
        UPDATE fp SET c_tx = 0 WHERE c_tx IS NULL;
        PERFORM counterfield.reinit('fp', 'c_tx');
        PERFORM counterfield.reinit('fp', 's_v_tx');
    ELSIF r < 0.90 THEN
        TRUNCATE fc;
    ELSIF r < 0.95 THEN
        INSERT INTO fc (id, fp_id, v)
          SELECT id, (SELECT id FROM fp ORDER BY random() LIMIT 1), 5 FROM fc
           ORDER BY random() LIMIT k
          ON CONFLICT (id) DO UPDATE SET fp_id = excluded.fp_id, flag = NOT fc.flag;
    ELSE
        MERGE INTO fc USING (SELECT g AS id FROM generate_series(1, 400, 7) g) s ON fc.id = s.id
          WHEN MATCHED AND fc.v < 2 THEN DELETE
          WHEN MATCHED THEN UPDATE SET v = fc.v + 1, flag = true, amt = fc.amt - 1
          WHEN NOT MATCHED AND random() < 0.3 THEN
            INSERT (id, fp_id, flag, v) VALUES (s.id + 100000, (SELECT min(id) FROM fp), true, 4);
    END IF;
END $$;

-- Runs transactions of random writes, some inside exception blocks that
-- roll back, some committed and some rolled back; checks after each.
CREATE PROCEDURE fuzz(n int) LANGUAGE plpgsql AS $$
DECLARE
    bad bigint;
BEGIN
    FOR i IN 1..n LOOP
        FOR j IN 1..(1 + (random() * 5)::int) LOOP
            IF random() < 0.3 THEN
                BEGIN
                    PERFORM fuzz_write();
                    PERFORM fuzz_write();
                    IF random() < 0.5 THEN
                        RAISE EXCEPTION 'roll back this block';
                    END IF;
                EXCEPTION WHEN raise_exception OR unique_violation OR foreign_key_violation THEN
                    NULL;
                END;
            ELSE
                BEGIN
                    PERFORM fuzz_write();
                EXCEPTION WHEN unique_violation OR foreign_key_violation THEN
                    NULL;
                END;
            END IF;
        END LOOP;
        IF random() < 0.25 THEN
            ROLLBACK;
        ELSE
            COMMIT;
        END IF;
        bad := fuzz_mismatches();
        IF bad <> 0 THEN
            RAISE EXCEPTION 'counters drifted after transaction %: % mismatches', i, bad;
        END IF;
        IF counterfield.has_tracked_states() THEN
            RAISE EXCEPTION 'state left after transaction %', i;
        END IF;
    END LOOP;
END $$;

SELECT setseed(0.42);
CALL fuzz(400);
SELECT fuzz_mismatches() AS mismatches, (SELECT last_value > 1000 FROM fc_id_seq) AS wrote_children;
SELECT * FROM counterfield.verify();

DROP PROCEDURE fuzz(int);
DROP FUNCTION fuzz_write(), fuzz_mismatches();
DROP TABLE fc, fp, fg;
