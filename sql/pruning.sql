-- Pruning of stale state: by the next write even in statement mode, and
-- exactly what failed savepoints and exception blocks left among many
-- pending keys.

-- stale state is pruned by the next write even when all its counters are
-- in statement mode, whose deltas are not stored
CREATE TABLE pr_parent (id int PRIMARY KEY, tx_n int, st_n int);
CREATE TABLE pr_tx (id serial PRIMARY KEY, p int REFERENCES pr_parent);
CREATE TABLE pr_st (id serial PRIMARY KEY, p int REFERENCES pr_parent);
INSERT INTO pr_parent SELECT g FROM generate_series(1, 3) g;
SELECT counterfield.add_counter('pr_parent', 'tx_n', 'pr_tx', flush => 'transaction');
SELECT counterfield.add_counter('pr_parent', 'st_n', 'pr_st');
BEGIN;
INSERT INTO pr_tx (p) VALUES (1), (2);
ROLLBACK;
SELECT count(*) AS stale_entries FROM counterfield.tracked_states(false) WHERE stale;
INSERT INTO pr_st (p) VALUES (1), (3), (3);
SELECT count(*) AS entries FROM counterfield.tracked_states(false);
SELECT p.*, (SELECT count(*) FROM pr_tx WHERE p = p.id) AS tx_truth,
       (SELECT count(*) FROM pr_st WHERE p = p.id) AS st_truth
  FROM pr_parent p ORDER BY id;
DROP TABLE pr_tx, pr_st, pr_parent;

-- Failed savepoints and exception blocks among many pending keys: pruning
-- removes exactly what they left, the entries of other keys stay, and the
-- commit applies what is live.
CREATE TABLE many_parent (id int PRIMARY KEY, tn int);
CREATE TABLE many_child (id serial PRIMARY KEY, many_parent_id int REFERENCES many_parent,
                         ok boolean DEFAULT true CHECK (ok));
INSERT INTO many_parent SELECT g FROM generate_series(1, 2000) g;
SELECT counterfield.add_counter('many_parent', 'tn', 'many_child', flush => 'transaction');
BEGIN;
INSERT INTO many_child (many_parent_id) SELECT g FROM generate_series(1, 2000) g;
DO $$
BEGIN
    FOR i IN 1 .. 40 LOOP
        BEGIN
            INSERT INTO many_child (many_parent_id) VALUES (i), (i + 1000);
            INSERT INTO many_child (many_parent_id, ok) VALUES (i, false);
        EXCEPTION WHEN check_violation THEN
            NULL;
        END;
    END LOOP;
END
$$;
-- the last block's deltas are stale until the next write prunes them
SELECT count(*) FILTER (WHERE stale) AS stale, count(*) FILTER (WHERE NOT stale) AS live,
       sum(delta) FILTER (WHERE NOT stale) AS live_delta
  FROM counterfield.tracked_states(prune => false);
SAVEPOINT kept;
INSERT INTO many_child (many_parent_id) VALUES (7), (1500);
RELEASE SAVEPOINT kept;
SELECT count(*) FILTER (WHERE stale) AS stale, count(*) FILTER (WHERE NOT stale) AS live,
       sum(delta) FILTER (WHERE NOT stale) AS live_delta
  FROM counterfield.tracked_states(prune => false);
COMMIT;
SELECT mismatches('many_parent', 'tn', 'many_child', 'many_parent_id') AS mismatches,
       sum(tn) AS total FROM many_parent;
-- the next transaction finds every entry of this one stale, and drops them
BEGIN;
INSERT INTO many_child (many_parent_id) VALUES (1);
SELECT count(*) AS entries FROM counterfield.tracked_states(prune => false);
ROLLBACK;
DROP TABLE many_child, many_parent;
