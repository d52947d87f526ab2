-- Jeton schema, version 8 (PostgreSQL): CSV imports (R-USR-5) as background jobs.
-- migrations/sqlite/0008_import_jobs.sql is the same in the other dialect.

-- An import: the POST stores the parsed file and answers at once; a worker applies its lines in
-- chunks, each chunk one transaction that also records the lines' outcomes and the counts, so a
-- restart resumes with the first line that has no outcome and never applies a line twice.
-- `claim_token`/`claimed_until` (a lease on the clock) keep other servers away while one works
-- on it. `done` counts lines with an outcome: applied + unchanged + refused.
CREATE TABLE import_jobs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id       BIGINT NOT NULL REFERENCES teams (id),
    status        TEXT   NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    total         BIGINT NOT NULL CHECK (total >= 0),
    done          BIGINT NOT NULL DEFAULT 0,
    applied       BIGINT NOT NULL DEFAULT 0,
    unchanged     BIGINT NOT NULL DEFAULT 0,
    refused       BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    started_at    BIGINT,
    finished_at   BIGINT,
    claim_token   TEXT,
    claimed_until BIGINT,
    error_code    TEXT,
    error_detail  TEXT,
    CHECK (done = applied + unchanged + refused AND done <= total)
);
CREATE INDEX import_jobs_team ON import_jobs (team_id, id);
CREATE INDEX import_jobs_open ON import_jobs (id) WHERE status IN ('queued', 'running');

-- One row per line of the file that gets an outcome (blank lines and the header get none).
-- Lines refused when the file was read have no name or email and are refused from the start;
-- the others wait with outcome NULL until a chunk applies them. `products` is the line's
-- products field as in the file (`*`, or keys separated by ';'); NULL when it named none.
CREATE TABLE import_lines (
    job_id   BIGINT NOT NULL REFERENCES import_jobs (id),
    line     BIGINT NOT NULL,
    name     TEXT,
    email    TEXT,
    products TEXT,
    outcome  TEXT   CHECK (outcome IN ('applied', 'unchanged', 'refused')),
    reason   TEXT,
    PRIMARY KEY (job_id, line),
    CHECK (outcome IS NOT NULL OR (name IS NOT NULL AND email IS NOT NULL))
);
-- The next chunk: the job's lines still waiting, in line order.
CREATE INDEX import_lines_waiting ON import_lines (job_id, line) WHERE outcome IS NULL;
