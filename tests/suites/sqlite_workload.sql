-- A scripted sqlite3 workload (run_sqlite.sh): bulk inserts, indexes, joins, aggregates, large
-- strings and blobs, updates and deletes in transactions, a temporary table, VACUUM, and an
-- integrity check. Every result is a number or a short string that does not depend on the
-- allocator: the output must match sqlite_expected.txt exactly.
PRAGMA cache_size = -20000;
CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, city INTEGER, score REAL, bio TEXT);
CREATE TABLE cities(id INTEGER PRIMARY KEY, name TEXT UNIQUE);
CREATE TABLE blobs(id INTEGER PRIMARY KEY, data BLOB);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
INSERT INTO cities SELECT i, 'city-' || i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO people SELECT i, printf('person-%08d', i), (i * 7919) % 500 + 1, (i % 1000) / 10.0,
                          substr(hex(randomblob(1)), 1, 0) || printf('%.*c', (i % 300) + 1, 'x') FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
INSERT INTO blobs SELECT i, zeroblob(i * 3000) FROM n;
COMMIT;
CREATE INDEX people_city ON people(city);
CREATE INDEX people_score ON people(score, name);
SELECT 'rows', count(*), sum(city), sum(length(bio)) FROM people;
SELECT 'blobs', count(*), sum(length(data)) FROM blobs;
SELECT 'top city', c.name, count(*) AS n FROM people p JOIN cities c ON c.id = p.city
  GROUP BY c.id ORDER BY n DESC, c.id LIMIT 3;
SELECT 'score', round(avg(score), 4), min(score), max(score) FROM people WHERE city BETWEEN 100 AND 200;
SELECT 'concat', length(group_concat(name, ',')) FROM (SELECT name FROM people WHERE id % 97 = 0);
SELECT 'distinct', count(DISTINCT substr(name, 1, 11)) FROM people;
BEGIN;
UPDATE people SET bio = bio || bio WHERE id % 3 = 0;
DELETE FROM people WHERE id % 5 = 0;
UPDATE blobs SET data = zeroblob(length(data) * 2) WHERE id % 2 = 0;
COMMIT;
SELECT 'after', count(*), sum(length(bio)), (SELECT sum(length(data)) FROM blobs) FROM people;
CREATE TEMP TABLE t AS SELECT city, count(*) AS n, group_concat(id) AS ids FROM people GROUP BY city;
SELECT 'temp', count(*), sum(n), sum(length(ids)) FROM t;
SELECT 'window', sum(r) FROM (SELECT row_number() OVER (PARTITION BY city ORDER BY score DESC, id) AS r
                              FROM people WHERE city <= 50);
SELECT 'json', json_array_length(json_group_array(id)) FROM people WHERE city = 7;
DROP TABLE t;
DELETE FROM blobs;
VACUUM;
SELECT 'final', count(*), (SELECT count(*) FROM blobs) FROM people;
PRAGMA integrity_check;
