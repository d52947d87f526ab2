-- Jeton schema, version 5 (PostgreSQL): days used per user as monthly bit masks.
-- migrations/sqlite/0005_user_day_masks.sql is the same in SQLite's dialect.

-- The days each user used something (a usage period began), one row per month: bit d-1 of
-- `days` is set when day d of the month had use. Days used per ISO week are counted from these
-- masks; a year of a team is 12 rows per user instead of one per day, which keeps the by-user
-- report of a large team fast. Months are months since January 1970.
CREATE TABLE usage_user_months (
    team_id BIGINT NOT NULL REFERENCES teams (id),
    month   BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    days    BIGINT NOT NULL CHECK (days > 0),
    PRIMARY KEY (team_id, month, user_id)
);

-- Carry over what version 4 recorded: (team, day, user) was unique there, so the sum of the
-- day bits of a month is their OR.
INSERT INTO usage_user_months (team_id, month, user_id, days)
SELECT team_id,
       (EXTRACT(YEAR FROM d)::BIGINT - 1970) * 12 + EXTRACT(MONTH FROM d)::BIGINT - 1,
       user_id,
       CAST(SUM(1::BIGINT << (EXTRACT(DAY FROM d)::INT - 1)) AS BIGINT)
FROM (SELECT team_id, user_id, DATE '1970-01-01' + day::INT AS d FROM usage_user_days) x
GROUP BY 1, 2, 3;

DROP TABLE usage_user_days;
