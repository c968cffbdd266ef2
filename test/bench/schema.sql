-- The same parent/child schema five ways, and two floors; :v is the variant
-- suffix.  base: no counter; plrow: hand-written PL/pgSQL row trigger;
-- plstmt: PL/pgSQL statement triggers with transition tables;
-- cfstmt / cftx / cfdef: counterfield in statement, transaction and
-- deferred mode.
-- Two floors: noop: statement triggers with transition tables that do
-- nothing (what capturing the rows costs); app: no trigger, the application
-- updates the counter itself in the same statement (bulk scenarios) or
-- transaction (pgbench scenarios).
CREATE EXTENSION IF NOT EXISTS counterfield;

CREATE OR REPLACE FUNCTION bench_row_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.p_id IS NOT NULL
       AND (TG_OP = 'DELETE' OR NEW.p_id IS DISTINCT FROM OLD.p_id) THEN
        EXECUTE format('UPDATE %I SET n = n - 1 WHERE id = $1', TG_ARGV[0]) USING OLD.p_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.p_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.p_id IS DISTINCT FROM OLD.p_id) THEN
        EXECUTE format('UPDATE %I SET n = n + 1 WHERE id = $1', TG_ARGV[0]) USING NEW.p_id;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION bench_stmt_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE format('UPDATE %I p SET n = p.n + d.c FROM (SELECT p_id, count(*) AS c FROM new_rows '
                       'WHERE p_id IS NOT NULL GROUP BY p_id ORDER BY p_id) d WHERE p.id = d.p_id', TG_ARGV[0]);
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE format('UPDATE %I p SET n = p.n - d.c FROM (SELECT p_id, count(*) AS c FROM old_rows '
                       'WHERE p_id IS NOT NULL GROUP BY p_id ORDER BY p_id) d WHERE p.id = d.p_id', TG_ARGV[0]);
    ELSE
        EXECUTE format('UPDATE %I p SET n = p.n + d.c FROM (SELECT p_id, sum(c) AS c FROM ('
                       'SELECT p_id, 1 AS c FROM new_rows UNION ALL SELECT p_id, -1 FROM old_rows) u '
                       'WHERE p_id IS NOT NULL GROUP BY p_id HAVING sum(c) <> 0 ORDER BY p_id) d '
                       'WHERE p.id = d.p_id', TG_ARGV[0]);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION bench_noop_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION bench_setup(v text) RETURNS void LANGUAGE plpgsql
SET client_min_messages = warning AS $$
DECLARE
    p text := 'p_' || v;
    c text := 'c_' || v;
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS %I, %I', c, p);
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, name text)', p);
    EXECUTE format('CREATE TABLE %I (id bigserial PRIMARY KEY, p_id int REFERENCES %I, payload int)', c, p);
    EXECUTE format('CREATE INDEX ON %I (p_id)', c);
    EXECUTE format('INSERT INTO %I (id) SELECT g FROM generate_series(1, 100000) g', p);
    IF v = 'plrow' THEN
        EXECUTE format('CREATE TRIGGER cnt AFTER INSERT OR UPDATE OR DELETE ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION bench_row_trigger(%L)', c, p);
    ELSIF v = 'plstmt' THEN
        EXECUTE format('CREATE TRIGGER cnt_i AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION bench_stmt_trigger(%L)', c, p);
        EXECUTE format('CREATE TRIGGER cnt_u AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows '
                       'NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_stmt_trigger(%L)', c, p);
        EXECUTE format('CREATE TRIGGER cnt_d AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION bench_stmt_trigger(%L)', c, p);
    ELSIF v = 'noop' THEN
        EXECUTE format('CREATE TRIGGER cnt_i AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION bench_noop_trigger()', c);
        EXECUTE format('CREATE TRIGGER cnt_u AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows '
                       'NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_noop_trigger()', c);
        EXECUTE format('CREATE TRIGGER cnt_d AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION bench_noop_trigger()', c);
    ELSIF v = 'cfstmt' THEN
        PERFORM counterfield.add_counter(p::regclass, 'n', c::regclass);
    ELSIF v = 'cftx' THEN
        PERFORM counterfield.add_counter(p::regclass, 'n', c::regclass, flush => 'transaction');
    ELSIF v = 'cfdef' THEN
        PERFORM counterfield.add_counter(p::regclass, 'n', c::regclass, flush => 'deferred');
    END IF;
END $$;

-- Empties the child and zeroes the parent, outside the timed part; for
-- cfdef, also empties the ledger by a reinit, which discards its deltas.
CREATE OR REPLACE FUNCTION bench_reset(v text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('TRUNCATE %I', 'c_' || v);
    IF v = 'cfdef' THEN
        PERFORM counterfield.reinit(('p_' || v)::regclass, 'n');
    END IF;
    EXECUTE format('UPDATE %I SET n = 0 WHERE n <> 0', 'p_' || v);
END $$;

-- Parent rows whose counter differs from count(*); for cfdef, after a final
-- fold.
CREATE OR REPLACE FUNCTION bench_drift(v text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    d bigint;
BEGIN
    IF v IN ('base', 'noop') THEN
        RETURN 0;
    END IF;
    IF v = 'cfdef' THEN
        PERFORM counterfield.fold(('p_' || v)::regclass);
    END IF;
    EXECUTE format('SELECT count(*) FROM %I p LEFT JOIN (SELECT p_id, count(*) c FROM %I GROUP BY p_id) s '
                   'ON s.p_id = p.id WHERE p.n <> coalesce(s.c, 0)', 'p_' || v, 'c_' || v) INTO d;
    RETURN d;
END $$;
