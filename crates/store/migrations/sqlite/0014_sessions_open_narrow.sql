-- Back to the open sessions' index of 0003: with `last_seen_at` in it (0013) every heartbeat
-- written moved the session's entry, and heartbeats of 100,000 open sessions ran 5-11 % slower.
-- The state query finds the dead sessions through `sessions_seen` and whether another is open
-- by the pair's first live session, neither of which needs the wider index (session_state.rs).
DROP INDEX sessions_open;
CREATE INDEX sessions_open ON sessions (team_id, user_id, product_id) WHERE ended_at IS NULL;
