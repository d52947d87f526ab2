-- Jeton schema, version 10 (SQLite): the web console's sign-ins and password links.
-- migrations/postgres/0010_console.sql is the same in the other dialect.

-- An admin signs in to the console with a password, set through an emailed link; NULL until then
-- (the API key keeps working either way).
ALTER TABLE admins ADD COLUMN password_hash TEXT;

-- A signed-in browser: the cookie holds a random secret, this table its SHA-256. Looked up on
-- every request, so signing out or revoking works at once on every server. admin_id NULL is the
-- operator (signed in with the operator key).
CREATE TABLE console_sessions (
    token_hash TEXT   NOT NULL PRIMARY KEY,
    admin_id   BIGINT REFERENCES admins (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_admin ON console_sessions (admin_id);

-- Single-use links to choose a password: an admin's first one ("set password") or a user's
-- forgotten one. Exactly one of admin_id and user_id is set; used_at makes the link single-use.
CREATE TABLE password_links (
    token_hash TEXT   NOT NULL PRIMARY KEY,
    admin_id   BIGINT REFERENCES admins (id),
    user_id    BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    CHECK ((admin_id IS NULL) <> (user_id IS NULL))
);
CREATE INDEX password_links_admin ON password_links (admin_id);
CREATE INDEX password_links_user ON password_links (user_id);
