-- A sign-in or sign-out reads the open sessions of its (team, user, product) that its step needs:
-- those last seen long enough ago to be dead, and whether any other is open (session_state.rs).
-- With the last-seen time in the index both are a range of it, whatever the number of sessions
-- open (a pool of machines on one account); it serves every lookup `sessions_open` served.
DROP INDEX sessions_open;
CREATE INDEX sessions_open ON sessions (team_id, user_id, product_id, last_seen_at) WHERE ended_at IS NULL;
