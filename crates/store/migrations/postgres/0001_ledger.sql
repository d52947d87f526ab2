-- Jeton schema, version 1 (PostgreSQL). migrations/sqlite/0001_ledger.sql is the same schema in
-- SQLite's dialect; tests check that both have the same tables and columns.
-- Times are microseconds since the Unix epoch (UTC) in BIGINT, identical on both backends.

-- R-CAT-1/2: the catalogue. `added_at` is when the product entered Flex.
CREATE TABLE products (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key             TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL,
    daily_rate      BIGINT  NOT NULL CHECK (daily_rate >= 0),
    idle_awareness  BIGINT  NOT NULL DEFAULT 0 CHECK (idle_awareness IN (0, 1)),
    added_at        BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE product_result_rates (
    product_id  BIGINT NOT NULL REFERENCES products (id),
    result_type TEXT   NOT NULL,
    rate        BIGINT NOT NULL CHECK (rate >= 0),
    PRIMARY KEY (product_id, result_type)
);

CREATE TABLE product_items (
    product_id BIGINT NOT NULL REFERENCES products (id),
    position   BIGINT NOT NULL,
    version    TEXT   NOT NULL,
    platform   TEXT   NOT NULL,
    url        TEXT   NOT NULL,
    PRIMARY KEY (product_id, position)
);

-- R-CAT-3: every rate a product has had and from when. Charges record the amount they took, so
-- this history explains them; it is never used to re-price anything.
CREATE TABLE product_rate_changes (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id   BIGINT NOT NULL REFERENCES products (id),
    at           BIGINT NOT NULL,
    daily_rate   BIGINT NOT NULL,
    result_rates TEXT   NOT NULL,
    actor        TEXT   NOT NULL
);
CREATE INDEX product_rate_changes_product ON product_rate_changes (product_id, at);

-- The team is the unit of scale: every balance-changing transaction starts by bumping its
-- team's `lock_version`, which serialises changes to one team on any number of servers.
CREATE TABLE teams (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    closed_at    BIGINT,
    merged_into  BIGINT REFERENCES teams (id),
    lock_version BIGINT NOT NULL DEFAULT 0,
    CHECK ((closed_at IS NULL) = (merged_into IS NULL))
);

-- R-PACK-1..4. `tokens` is the original size (bought, moved in or merged in), `remaining` what is
-- left, `moved_out` what left for other teams. Packs received by a move or merge keep the
-- source's `purchased_at` and `expires_at`; `origin_pack_id` points at the source.
CREATE TABLE packs (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id        BIGINT NOT NULL REFERENCES teams (id),
    origin         TEXT   NOT NULL CHECK (origin IN ('purchase', 'move', 'merge')),
    origin_pack_id BIGINT REFERENCES packs (id),
    tokens         BIGINT NOT NULL CHECK (tokens > 0),
    remaining      BIGINT NOT NULL CHECK (remaining >= 0),
    moved_out      BIGINT NOT NULL DEFAULT 0 CHECK (moved_out >= 0),
    purchased_at   BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    expired_at     BIGINT,
    CHECK (remaining + moved_out <= tokens),
    CHECK (expires_at > purchased_at)
);
CREATE INDEX packs_team_expiry ON packs (team_id, expires_at);
CREATE INDEX packs_due ON packs (expires_at) WHERE remaining > 0;

-- R-PACK-5: the append-only ledger. The sign of `amount` is fixed by `kind` (checked here and in
-- jeton-core); the sum of a team's events equals the sum of its packs' `remaining`.
CREATE TABLE ledger_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id    BIGINT NOT NULL REFERENCES teams (id),
    pack_id    BIGINT NOT NULL REFERENCES packs (id),
    kind       TEXT   NOT NULL,
    amount     BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    cause_kind TEXT   NOT NULL,
    cause_ref  TEXT,
    CHECK (
        (kind IN ('purchased', 'refunded', 'moved_in') AND amount > 0)
        OR (kind IN ('charged', 'expired', 'moved_out') AND amount < 0)
        OR (kind IN ('merged', 'adjusted') AND amount <> 0)
    )
);
CREATE INDEX ledger_events_team_at ON ledger_events (team_id, at);
CREATE INDEX ledger_events_pack ON ledger_events (pack_id);
CREATE INDEX ledger_events_cause ON ledger_events (cause_kind, cause_ref);

CREATE FUNCTION jeton_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER ledger_events_append_only BEFORE UPDATE OR DELETE ON ledger_events
    FOR EACH ROW EXECUTE FUNCTION jeton_append_only();

-- R-PACK-6.
CREATE TABLE moves (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_team_id BIGINT NOT NULL REFERENCES teams (id),
    to_team_id   BIGINT NOT NULL REFERENCES teams (id),
    tokens       BIGINT NOT NULL CHECK (tokens > 0),
    at           BIGINT NOT NULL,
    actor        TEXT   NOT NULL,
    CHECK (from_team_id <> to_team_id)
);
CREATE INDEX moves_from ON moves (from_team_id, at);
CREATE INDEX moves_to ON moves (to_team_id, at);

-- A retried request with the same Idempotency-Key gets the first answer and changes nothing.
CREATE TABLE idempotency_keys (
    team_id     BIGINT NOT NULL REFERENCES teams (id),
    scope       TEXT   NOT NULL,
    key         TEXT   NOT NULL,
    fingerprint TEXT   NOT NULL,
    response    TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (team_id, scope, key)
);

-- Team admins. Keys are random 256-bit secrets, stored as SHA-256 digests.
CREATE TABLE admins (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       TEXT   NOT NULL,
    email_lower TEXT   NOT NULL UNIQUE,
    name        TEXT   NOT NULL,
    key_hash    TEXT   NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE admin_teams (
    admin_id BIGINT NOT NULL REFERENCES admins (id),
    team_id  BIGINT NOT NULL REFERENCES teams (id),
    PRIMARY KEY (admin_id, team_id)
);
CREATE INDEX admin_teams_team ON admin_teams (team_id);
