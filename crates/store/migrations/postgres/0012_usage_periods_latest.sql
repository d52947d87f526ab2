-- Every session step and quiet heartbeat reads the latest period of one (team, user, product).
-- Without this index both databases walked the team's periods newest first until one of that
-- user and product came up (usage_periods_team_start): a read that grew with the team's use.
-- `usage_periods_one_per_start` cannot serve it, as it leaves refunded periods out.
CREATE INDEX usage_periods_latest ON usage_periods (team_id, user_id, product_id, started_at, id);
