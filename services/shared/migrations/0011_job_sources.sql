-- One job, many sources (issue #19). A job (one content hash) can be listed by several feeds;
-- each listing is a source. The job row's `feed_id` is its owner: the feed whose listing put
-- it on the board, kept while the job is live, so the owner's fields stay on the board and
-- its Xano record (one per job, keyed by its eid) is written by that feed's reconcile only.
-- A job is archived only when every source has dropped it (services/router/README.md).
CREATE TABLE job_sources (
    job_hash         TEXT NOT NULL,
    feed_id          INTEGER NOT NULL,
    external_job_id  TEXT,
    application_url  TEXT,
    first_seen_run   TEXT NOT NULL,
    last_seen_run    TEXT NOT NULL,
    -- what this source's last listing did: 'new' (put the job on the board), 'updated' (changed
    -- the owner's row), 'unchanged', or 'known' (the job was live from another feed already)
    last_change      TEXT NOT NULL,
    dropped_run      TEXT,  -- the run of this feed that dropped it; NULL while listed
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (job_hash, feed_id)
);
-- A feed's listed sources (a run's archive judgement, its counts); dropped ones pile up and
-- are read only by the run that dropped them (the syncer's owners of what it archived).
CREATE INDEX idx_job_sources_listed ON job_sources (feed_id, last_seen_run)
    WHERE dropped_run IS NULL;
CREATE INDEX idx_job_sources_dropped ON job_sources (dropped_run) WHERE dropped_run IS NOT NULL;

-- Every job already stored has one source: its feed. An archived job's source is dropped.
INSERT INTO job_sources (job_hash, feed_id, external_job_id, application_url, first_seen_run,
                         last_seen_run, last_change, dropped_run)
SELECT job_hash, feed_id, external_job_id, application_url,
       coalesce(first_seen_run, last_seen_run, ''), coalesce(last_seen_run, ''),
       'unchanged', NULL FROM open_jobs
UNION ALL
SELECT job_hash, feed_id, external_job_id, application_url,
       coalesce(first_seen_run, last_seen_run, ''), coalesce(last_seen_run, ''),
       'unchanged', NULL FROM manual_review_jobs
UNION ALL
SELECT job_hash, feed_id, external_job_id, application_url,
       coalesce(first_seen_run, last_seen_run, ''), coalesce(last_seen_run, ''),
       'unchanged', NULL FROM rejected_jobs
UNION ALL
SELECT job_hash, feed_id, external_job_id, application_url,
       coalesce(first_seen_run, last_seen_run, ''), coalesce(last_seen_run, ''),
       'unchanged', coalesce(last_seen_run, '') FROM archive_jobs
ON CONFLICT DO NOTHING;

-- Per-source counts of a run, in its report and its feed's statistics.
ALTER TABLE execution_reports
    ADD COLUMN jobs_new            INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN jobs_known_elsewhere INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN jobs_updated        INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN jobs_dropped        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feeds
    ADD COLUMN last_run_jobs_new             INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN last_run_jobs_known_elsewhere INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN last_run_jobs_updated         INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN last_run_jobs_dropped         INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN last_run_jobs_archived        INTEGER NOT NULL DEFAULT 0;
