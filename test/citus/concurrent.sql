-- Local tables of the Citus coordinator, counted in transaction and
-- statement mode, written by transactions that also write a distributed
-- table on both workers (so that Citus commits them in two phases).
CREATE TABLE cc_parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, s int NOT NULL DEFAULT 0);
CREATE TABLE cc_child (id bigserial PRIMARY KEY, parent_id int NOT NULL REFERENCES cc_parent);
CREATE INDEX ON cc_child (parent_id);
INSERT INTO cc_parent (id) SELECT g FROM generate_series(1, 200) g;
SELECT counterfield.add_counter('cc_parent', 'n', 'cc_child', flush => 'transaction');
SELECT counterfield.add_counter('cc_parent', 's', 'cc_child');
CREATE TABLE cc_event (tenant int, id bigserial, parent_id int, PRIMARY KEY (tenant, id));
SELECT create_distributed_table('cc_event', 'tenant');
-- the same writes with no counter, for comparison
CREATE TABLE cc_plain (id bigserial PRIMARY KEY, parent_id int NOT NULL REFERENCES cc_parent);
CREATE INDEX ON cc_plain (parent_id);

-- Co-located distributed tables, counted on the shards in both modes: few
-- hot parents per tenant.
CREATE TABLE dd_parent (tenant int, id int, n int NOT NULL DEFAULT 0, t int NOT NULL DEFAULT 0,
                        PRIMARY KEY (tenant, id));
CREATE TABLE dd_child (tenant int, id bigserial, parent_id int, PRIMARY KEY (tenant, id));
CREATE INDEX ON dd_child (tenant, parent_id);
SELECT create_distributed_table('dd_parent', 'tenant', shard_count => 4);
SELECT create_distributed_table('dd_child', 'tenant', colocate_with => 'dd_parent');
INSERT INTO dd_parent (tenant, id) SELECT t, p FROM generate_series(1, 8) t, generate_series(1, 5) p;
SELECT counterfield.add_counter('dd_parent', 'n', 'dd_child', '{tenant, parent_id}', '{tenant, id}');
SELECT counterfield.add_counter('dd_parent', 't', 'dd_child', '{tenant, parent_id}', '{tenant, id}',
                                flush => 'transaction');

-- A transaction-mode counter alone, written by transactions that touch two
-- tenants (two nodes, two-phase commit) and prepare at once.
CREATE TABLE tx_parent (tenant int, id int, n int NOT NULL DEFAULT 0, PRIMARY KEY (tenant, id));
CREATE TABLE tx_child (tenant int, id bigserial, parent_id int, PRIMARY KEY (tenant, id));
SELECT create_distributed_table('tx_parent', 'tenant', shard_count => 4);
SELECT create_distributed_table('tx_child', 'tenant', colocate_with => 'tx_parent');
INSERT INTO tx_parent (tenant, id) SELECT t, 1 FROM generate_series(1, 8) t;
SELECT counterfield.add_counter('tx_parent', 'n', 'tx_child', '{tenant, parent_id}', '{tenant, id}',
                                flush => 'transaction');
