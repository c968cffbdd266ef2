-- Many-to-many: two counters on one join table count both directions.
CREATE TABLE users (id int PRIMARY KEY, group_count int);
CREATE TABLE groups (id int PRIMARY KEY, member_count int);
CREATE TABLE membership (user_id int REFERENCES users ON DELETE CASCADE,
                         group_id int REFERENCES groups ON DELETE CASCADE,
                         PRIMARY KEY (user_id, group_id));
INSERT INTO users SELECT g FROM generate_series(1, 5) g;
INSERT INTO groups SELECT g FROM generate_series(1, 3) g;
SELECT counterfield.add_counter('users', 'group_count', 'membership');
SELECT counterfield.add_counter('groups', 'member_count', 'membership');
CREATE VIEW check_m2m AS
  SELECT mismatches('users', 'group_count', 'membership', 'user_id')
       + mismatches('groups', 'member_count', 'membership', 'group_id') AS mismatches,
         (SELECT string_agg(id || ':' || group_count, ' ' ORDER BY id) FROM users) AS users,
         (SELECT string_agg(id || ':' || member_count, ' ' ORDER BY id) FROM groups) AS groups;
INSERT INTO membership SELECT u, g FROM generate_series(1, 5) u, generate_series(1, 3) g
 WHERE (u + g) % 2 = 0;
SELECT * FROM check_m2m;
INSERT INTO membership VALUES (1, 2) ON CONFLICT DO NOTHING;
INSERT INTO membership VALUES (1, 1) ON CONFLICT DO NOTHING;
UPDATE membership SET group_id = 3 WHERE user_id = 2 AND group_id = 2;
SELECT * FROM check_m2m;
DELETE FROM groups WHERE id = 3;
SELECT * FROM check_m2m;
DELETE FROM users WHERE id = 1;
SELECT * FROM check_m2m;
DROP VIEW check_m2m;
DROP TABLE membership, users, groups;
