-- Jeton schema, version 9 (PostgreSQL): `sign_in_attempts.email_lower` may not be NULL.
-- migrations/sqlite/0009_sign_in_attempts_not_null.sql is the same in the other dialect.

-- PostgreSQL made the column NOT NULL already, as part of its primary key; SQLite did not (see
-- the SQLite migration). Stated here as well so that both folders say the same at version 9;
-- on PostgreSQL this changes nothing.
ALTER TABLE sign_in_attempts ALTER COLUMN email_lower SET NOT NULL;
