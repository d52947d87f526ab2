-- Jeton schema, version 6 (SQLite): sign-in attempts per email address.
-- migrations/postgres/0006_sign_in_attempts.sql is the same in the other dialect.

-- Password guessing (jeton_core::sign_in): the attempts of the current window for an address,
-- lower-cased, whether or not an account has it. A successful sign-in deletes the row; the
-- background jobs delete rows whose window or lock has passed. Not per-team state: identities
-- are global (R-USR-1).
CREATE TABLE sign_in_attempts (
    email_lower  TEXT   PRIMARY KEY,
    attempts     BIGINT NOT NULL CHECK (attempts >= 0),
    since        BIGINT NOT NULL,
    locked_until BIGINT
);
