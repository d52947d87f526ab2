-- Jeton schema, version 4 (PostgreSQL): report aggregates, team report settings, expiry warnings.
-- migrations/sqlite/0004_reports.sql is the same in SQLite's dialect.

-- R-NOT-1 / R-REP-1: the low-balance threshold (percent of the active total), whether admins
-- were told about the current crossing, and the privacy switch with its pseudonym salt.
ALTER TABLE teams ADD COLUMN low_percent BIGINT NOT NULL DEFAULT 20 CHECK (low_percent BETWEEN 1 AND 99);
ALTER TABLE teams ADD COLUMN low_alerted BIGINT NOT NULL DEFAULT 0 CHECK (low_alerted IN (0, 1));
ALTER TABLE teams ADD COLUMN pseudonyms BIGINT NOT NULL DEFAULT 0 CHECK (pseudonyms IN (0, 1));
ALTER TABLE teams ADD COLUMN pseudonym_salt TEXT;

-- R-REP-3: aggregates kept in the transaction of each charge, refund and result, so reports
-- read a few rows per day or month instead of every event. Days are days since 1970-01-01 (UTC),
-- months are months since January 1970, weeks are ISO weeks as year * 100 + week.
CREATE TABLE usage_days (
    team_id    BIGINT NOT NULL REFERENCES teams (id),
    day        BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    product_id BIGINT NOT NULL,
    tokens     BIGINT NOT NULL CHECK (tokens >= 0),
    periods    BIGINT NOT NULL CHECK (periods >= 0),
    results    BIGINT NOT NULL CHECK (results >= 0),
    PRIMARY KEY (team_id, day, user_id, product_id)
);

CREATE TABLE usage_months (
    team_id    BIGINT NOT NULL REFERENCES teams (id),
    month      BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    product_id BIGINT NOT NULL,
    tokens     BIGINT NOT NULL CHECK (tokens >= 0),
    periods    BIGINT NOT NULL CHECK (periods >= 0),
    results    BIGINT NOT NULL CHECK (results >= 0),
    PRIMARY KEY (team_id, month, user_id, product_id)
);

-- The days each user used something (a period began), with the day's ISO week.
CREATE TABLE usage_user_days (
    team_id BIGINT NOT NULL REFERENCES teams (id),
    day     BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    week    BIGINT NOT NULL,
    PRIMARY KEY (team_id, day, user_id)
);

CREATE TABLE usage_team_days (
    team_id BIGINT NOT NULL REFERENCES teams (id),
    day     BIGINT NOT NULL,
    tokens  BIGINT NOT NULL CHECK (tokens >= 0),
    periods BIGINT NOT NULL CHECK (periods >= 0),
    results BIGINT NOT NULL CHECK (results >= 0),
    PRIMARY KEY (team_id, day)
);

-- R-NOT-1: a pack's expiry warnings (90, 30, 7 days), each sent once.
CREATE TABLE expiry_warnings (
    team_id BIGINT NOT NULL REFERENCES teams (id),
    pack_id BIGINT NOT NULL REFERENCES packs (id),
    days    BIGINT NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (pack_id, days)
);
