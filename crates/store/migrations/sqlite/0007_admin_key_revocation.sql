-- Jeton schema, version 7 (SQLite): revoking and rotating team admins' keys (R-AUTH-1).
-- migrations/postgres/0007_admin_key_revocation.sql is the same in the other dialect.

-- `admins.key_hash` is the admin's current key. Rotating replaces it and sets `key_created_at`
-- (and clears `key_revoked_at`); revoking sets `key_revoked_at`, and from then on the key is
-- refused. Keys are looked up on every request, so either takes effect at once on every server.
-- Keys made before this version date from their admin's creation.
ALTER TABLE admins ADD COLUMN key_created_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE admins ADD COLUMN key_revoked_at BIGINT;
UPDATE admins SET key_created_at = created_at;
