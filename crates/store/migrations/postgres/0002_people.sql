-- Jeton schema, version 2 (PostgreSQL): people, Flex assignments, product access, invitations, the
-- outbox. migrations/sqlite/0002_people.sql is the same in SQLite's dialect.

-- One identity per person across the service (R-USR-1); emails compare case-insensitively.
-- `password_hash` (argon2) stays NULL until the person accepts an invitation.
CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT   NOT NULL,
    email_lower   TEXT   NOT NULL UNIQUE,
    name          TEXT   NOT NULL,
    password_hash TEXT,
    created_at    BIGINT NOT NULL
);

-- Sign-in tokens (POST /v1/auth/token), stored as SHA-256 digests.
CREATE TABLE user_tokens (
    token_hash TEXT   NOT NULL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX user_tokens_user ON user_tokens (user_id);

-- R-USR-1..6, R-ACC-1/2: one row per person ever assigned to Flex on a team. Unassigning sets
-- `removed_at` and keeps the row and its history (R-USR-6). `access_all` is the stored "all"
-- (R-ACC-2); otherwise the selection is the rows of assignment_products.
CREATE TABLE flex_assignments (
    team_id     BIGINT NOT NULL REFERENCES teams (id),
    user_id     BIGINT NOT NULL REFERENCES users (id),
    status      TEXT   NOT NULL CHECK (status IN ('invited', 'active')),
    access_all  BIGINT NOT NULL DEFAULT 0 CHECK (access_all IN (0, 1)),
    source      TEXT   NOT NULL CHECK (source IN ('admin', 'import', 'merge')),
    assigned_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    removed_at  BIGINT,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX flex_assignments_user ON flex_assignments (user_id);

CREATE TABLE assignment_products (
    team_id    BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    product_id BIGINT NOT NULL REFERENCES products (id),
    PRIMARY KEY (team_id, user_id, product_id),
    FOREIGN KEY (team_id, user_id) REFERENCES flex_assignments (team_id, user_id)
);

-- R-ACC-3: default assignments; on while the team has rows here.
CREATE TABLE team_defaults (
    team_id    BIGINT NOT NULL REFERENCES teams (id),
    product_id BIGINT NOT NULL REFERENCES products (id),
    PRIMARY KEY (team_id, product_id)
);

-- R-USR-3: the secret is stored as a SHA-256 digest. A resend supersedes the old row.
CREATE TABLE invitations (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id       BIGINT NOT NULL REFERENCES teams (id),
    user_id       BIGINT NOT NULL REFERENCES users (id),
    secret_hash   TEXT   NOT NULL UNIQUE,
    emailed       BIGINT NOT NULL CHECK (emailed IN (0, 1)),
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    accepted_at   BIGINT,
    superseded_at BIGINT
);
CREATE INDEX invitations_team_user ON invitations (team_id, user_id);

-- R-NOT-2: the transactional outbox, written in the same transaction as the change that causes
-- the email. A sender claims a message (claim_token, claimed_until) before sending it, so that
-- several servers never send one message twice.
CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id         BIGINT NOT NULL REFERENCES teams (id),
    kind            TEXT   NOT NULL,
    to_email        TEXT   NOT NULL,
    to_name         TEXT   NOT NULL,
    subject         TEXT   NOT NULL,
    body            TEXT   NOT NULL,
    status          TEXT   NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claim_token     TEXT,
    claimed_until   BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_team ON outbox (team_id, created_at);
