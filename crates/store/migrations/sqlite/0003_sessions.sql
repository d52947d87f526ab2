-- Jeton schema, version 3 (SQLite): subscriptions and trials, usage periods, sessions, results.
-- migrations/postgres/0003_sessions.sql is the same in PostgreSQL's dialect.

-- R-PRI: a subscription or trial belongs to one identity and one product.
CREATE TABLE entitlements (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    product_id BIGINT NOT NULL REFERENCES products (id),
    kind       TEXT   NOT NULL CHECK (kind IN ('subscription', 'trial')),
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX entitlements_user_product ON entitlements (user_id, product_id);

-- R-SES-2..5: the usage periods of (team, user, product). `tokens` is what its charge took (0
-- under a subscription or trial, or for a free product); `rate` the daily rate it was charged
-- at (R-CAT-3). A refunded period keeps its row (the use counts in reports with 0 tokens).
CREATE TABLE usage_periods (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id     BIGINT NOT NULL REFERENCES teams (id),
    user_id     BIGINT NOT NULL REFERENCES users (id),
    product_id  BIGINT NOT NULL REFERENCES products (id),
    access      TEXT   NOT NULL CHECK (access IN ('flex', 'subscription', 'trial')),
    opened      TEXT   NOT NULL CHECK (opened IN ('sign_in', 'rollover', 'resume')),
    started_at  BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    rate        BIGINT NOT NULL CHECK (rate >= 0),
    tokens      BIGINT NOT NULL CHECK (tokens >= 0),
    charged_at  BIGINT NOT NULL,
    refunded_at BIGINT,
    CHECK (ends_at > started_at)
);
CREATE INDEX usage_periods_team_start ON usage_periods (team_id, started_at);
-- R-SES-9, belt and braces beside the team lock: one paid period per start. A refunded period
-- does not count (new use at the same instant pays again).
CREATE UNIQUE INDEX usage_periods_one_per_start ON usage_periods (team_id, user_id, product_id, started_at)
    WHERE refunded_at IS NULL;

-- R-SES-6: sessions of product clients.
CREATE TABLE sessions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id        BIGINT NOT NULL REFERENCES teams (id),
    user_id        BIGINT NOT NULL REFERENCES users (id),
    product_id     BIGINT NOT NULL REFERENCES products (id),
    period_id      BIGINT REFERENCES usage_periods (id),
    version        TEXT,
    machine        TEXT,
    started_at     BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    last_active_at BIGINT NOT NULL,
    ended_at       BIGINT,
    end_reason     TEXT CHECK (end_reason IN ('signed_out', 'lease_expired', 'insufficient_tokens', 'access_ended')),
    CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
CREATE INDEX sessions_open ON sessions (team_id, user_id, product_id) WHERE ended_at IS NULL;
CREATE INDEX sessions_seen ON sessions (last_seen_at) WHERE ended_at IS NULL;
CREATE INDEX sessions_team_start ON sessions (team_id, started_at);

-- R-SES-8: per-result charges, idempotent by the client's id within a session.
CREATE TABLE result_charges (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id     BIGINT NOT NULL REFERENCES teams (id),
    user_id     BIGINT NOT NULL REFERENCES users (id),
    product_id  BIGINT NOT NULL REFERENCES products (id),
    session_id  BIGINT NOT NULL REFERENCES sessions (id),
    client_id   TEXT   NOT NULL,
    result_type TEXT   NOT NULL,
    quantity    BIGINT NOT NULL CHECK (quantity > 0),
    rate        BIGINT NOT NULL CHECK (rate >= 0),
    tokens      BIGINT NOT NULL CHECK (tokens >= 0),
    access      TEXT   NOT NULL CHECK (access IN ('flex', 'subscription', 'trial')),
    at          BIGINT NOT NULL,
    UNIQUE (session_id, client_id)
);
CREATE INDEX result_charges_team_at ON result_charges (team_id, at);
