-- Incremental re-runs (issue 15): a job the feed's last run already processed, unchanged and
-- with the same enrichment and routing, travels as a small `JobsUnchanged` entry instead of a
-- full job (services/ingestor/incremental.py).

-- What each stage currently runs with: the enricher's backend version ('enrichment', also
-- stored on each job row) and its settings, the router's routing rules ('routing'). Written
-- by each service at start; read by the ingestor when a run starts.
CREATE TABLE pipeline_versions (
    stage       TEXT PRIMARY KEY,
    version     TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Per run the ingestor read: the versions and feed settings it read under. A later run skips
-- nothing unless its own snapshot is equal.
CREATE TABLE ingest_snapshots (
    run_id      TEXT PRIMARY KEY,
    feed_id     INTEGER NOT NULL,
    snapshot    TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_ingest_snapshots_feed ON ingest_snapshots (feed_id);

-- Per record of a run: a digest of the whole mapped posting and of its dedupe group key
-- (64-bit blake2b, signed). Kept for the feed's last two runs only.
CREATE TABLE run_fingerprints (
    run_id       TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    feed_id      INTEGER NOT NULL,
    fingerprint  BIGINT NOT NULL,
    group_key    BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX idx_run_fingerprints_feed ON run_fingerprints (feed_id, run_id);

-- A merge's kept job (pass 1 and 2), and an unchanged record's kept job when it was merged:
-- what ties a record's fate to another record's.
ALTER TABLE run_outcomes ADD COLUMN kept_hash TEXT;
ALTER TYPE outcome_input ADD ATTRIBUTE kept_hash TEXT;

ALTER TABLE execution_reports ADD COLUMN jobs_unchanged INTEGER NOT NULL DEFAULT 0;
