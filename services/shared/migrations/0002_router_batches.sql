-- The router's batched writes (issue #5: >= 5,000 persisted jobs/s).

-- One job row as the router sends it: the job columns of `schemas/job_tables.py` (every
-- column of a job table but its id and updated_at), in order, then its digest.
-- A batch travels as one binary array of these, `unnest($1::job_input[])`: PostgreSQL reads
-- it about eight times faster than the JSON array it replaces. JSONB and NUMERIC columns
-- travel as their text and are cast on the way in, so a value reads exactly as it did from
-- JSON (the binary NUMERIC of a Python float would be its full binary expansion).
DO $$
BEGIN
    EXECUTE (
        SELECT format('CREATE TYPE job_input AS (%s, row_digest TEXT)',
                      string_agg(format('%I %s', attname,
                                        CASE WHEN atttypid IN ('jsonb'::regtype, 'numeric'::regtype)
                                             THEN 'text'
                                             ELSE format_type(atttypid, atttypmod) END),
                                 ', ' ORDER BY attnum))
        FROM pg_attribute
        WHERE attrelid = 'open_jobs'::regclass AND attnum > 0 AND NOT attisdropped
          AND attname NOT IN ('id', 'updated_at')
    );
END
$$;

-- One outcome row as the router sends it, a batch's worth in one binary array.
CREATE TYPE outcome_input AS (
    run_id         TEXT,
    seq            INTEGER,
    outcome        TEXT,
    job_hash       TEXT,
    merge_pass     SMALLINT,
    cache_hit      BOOLEAN,
    llm_calls      INTEGER,
    input_tokens   INTEGER,
    output_tokens  INTEGER
);

-- What the router last wrote into a job's row: a digest of every column its upsert sets but
-- last_seen_run. A job seen again with the same digest only has its last-seen run moved,
-- which leaves the row exactly as the full upsert would, at a fraction of the cost. Whoever
-- else changes those columns leaves it NULL (a move inserts without it) or sets it NULL
-- (the router's own location fold, _geo and enrichment-failure updates do), so the next run
-- writes the whole row again.
ALTER TABLE open_jobs ADD COLUMN row_digest TEXT;
ALTER TABLE manual_review_jobs ADD COLUMN row_digest TEXT;
ALTER TABLE rejected_jobs ADD COLUMN row_digest TEXT;
ALTER TABLE archive_jobs ADD COLUMN row_digest TEXT;

-- Indexes no query reads. Every job insert, and every update that cannot stay on its page,
-- maintained each of them. The job tables are read by job_hash (unique), by feed_id, and
-- the review queue in created_at order; nothing filters or sorts on external_job_id, status
-- or last_seen_run (the archive filters on feed_id, the location fold on job_hash).
DROP INDEX idx_open_jobs_external_job_id;
DROP INDEX idx_open_jobs_status;
DROP INDEX idx_open_jobs_last_seen_run;
DROP INDEX idx_open_jobs_created_at;
DROP INDEX idx_manual_review_jobs_external_job_id;
DROP INDEX idx_manual_review_jobs_status;
DROP INDEX idx_manual_review_jobs_last_seen_run;
DROP INDEX idx_rejected_jobs_external_job_id;
DROP INDEX idx_rejected_jobs_status;
DROP INDEX idx_rejected_jobs_last_seen_run;
DROP INDEX idx_rejected_jobs_created_at;
DROP INDEX idx_archive_jobs_external_job_id;
DROP INDEX idx_archive_jobs_status;
DROP INDEX idx_archive_jobs_last_seen_run;
DROP INDEX idx_archive_jobs_created_at;

-- The location fold reads a batch's jobs by (job_hash, run): the primary key serves it. This
-- index only led the planner to scan every location row the run had written so far.
DROP INDEX idx_job_locations_run;
