-- The archive guard an operator can trust, and feed statistics that add up (issue #14).

-- What each completed run judged about archiving. `open_before` live jobs of the feed, of
-- which `archive_candidates` were not produced by the run; `archive_state` says what became
-- of them: applied, held (waiting for an operator), confirmed or discarded (an operator's
-- answer), superseded (a later run of the feed judged again), skipped (unsafe: fetch not
-- proven complete, too many enrichment failures, an empty feed), not_judged (a replay).
-- The shares of the feed's applied runs are its normal variation (services/router/README.md).
ALTER TABLE runs
    ADD COLUMN open_before         INTEGER,
    ADD COLUMN archive_candidates  INTEGER,
    ADD COLUMN archive_state       TEXT,
    ADD COLUMN archive_decided_by  TEXT,
    ADD COLUMN archive_decided_at  TIMESTAMPTZ;
CREATE INDEX idx_runs_archive_held ON runs (feed_id) WHERE archive_state = 'held';

-- The jobs a held archive would move, as judged when it was held: a confirmation moves
-- exactly these (those still live), never what later runs or replays changed since.
CREATE TABLE archive_hold_jobs (
    run_id    TEXT NOT NULL,
    job_hash  TEXT NOT NULL,
    PRIMARY KEY (run_id, job_hash)
);

ALTER TABLE execution_reports ADD COLUMN jobs_archive_held INTEGER NOT NULL DEFAULT 0;

-- Feed statistics: the last run's values, and running totals named as such. `error_count`
-- counts FAILURE runs (as the original did); PARTIAL runs have their own count.
ALTER TABLE feeds
    ADD COLUMN success_count              INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN partial_count              INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN last_run_id                TEXT,
    ADD COLUMN last_run_duration_seconds  DOUBLE PRECISION,
    ADD COLUMN last_run_feed_size_bytes   BIGINT;
COMMENT ON COLUMN feeds.unique_jobs_processed IS 'the last run''s unique jobs (not a sum)';
COMMENT ON COLUMN feeds.auto_approved_jobs IS 'the last run''s auto-approved jobs (not a sum)';
COMMENT ON COLUMN feeds.error_count IS 'running total of FAILURE runs';
