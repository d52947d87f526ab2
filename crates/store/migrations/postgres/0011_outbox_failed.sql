-- `/metrics` counts the outbox's failed emails at every scrape; sent ones pile up over the
-- years, so the count reads this index, not the table (pending ones have `outbox_due`).
CREATE INDEX outbox_failed ON outbox (id) WHERE status = 'failed';
