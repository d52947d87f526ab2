-- Jeton schema, version 9 (SQLite): `sign_in_attempts.email_lower` may not be NULL.
-- migrations/postgres/0009_sign_in_attempts_not_null.sql is the same in the other dialect.

-- Version 6 declared `email_lower TEXT PRIMARY KEY`. PostgreSQL makes every primary key column
-- NOT NULL; SQLite, for compatibility with its early versions, accepts NULL in a primary key
-- that is not an INTEGER PRIMARY KEY, so this table accepted rows PostgreSQL refuses (found by
-- the schema comparison in crates/store/tests/schema.rs). SQLite cannot add NOT NULL to a
-- column, so the table is rebuilt with the same columns in the same order. A row without an
-- address could never be found (`email_lower = $1` is never true of NULL) and is not carried
-- over; attempts are short-lived counters anyway.
CREATE TABLE sign_in_attempts_v9 (
    email_lower  TEXT   NOT NULL PRIMARY KEY,
    attempts     BIGINT NOT NULL CHECK (attempts >= 0),
    since        BIGINT NOT NULL,
    locked_until BIGINT
);

INSERT INTO sign_in_attempts_v9 (email_lower, attempts, since, locked_until)
SELECT email_lower, attempts, since, locked_until
FROM sign_in_attempts
WHERE email_lower IS NOT NULL;

DROP TABLE sign_in_attempts;
ALTER TABLE sign_in_attempts_v9 RENAME TO sign_in_attempts;
