-- jobstream schema v1: feeds, the four job tables, the run ledger, reports, caches.

CREATE TABLE feeds (
    id                         SERIAL PRIMARY KEY,
    name                       TEXT NOT NULL,
    source_url                 TEXT NOT NULL,
    format                     TEXT NOT NULL DEFAULT 'auto',
    mapping                    JSONB,
    company_name               TEXT,
    partner_id                 INTEGER,
    bypass_filters             BOOLEAN NOT NULL DEFAULT FALSE,
    is_active                  BOOLEAN NOT NULL DEFAULT TRUE,
    check_frequency_minutes    INTEGER,
    next_check_at              TIMESTAMPTZ,
    last_checked_at            TIMESTAMPTZ,
    last_run_status            TEXT,
    last_succeeded_at          TIMESTAMPTZ,
    last_error_message         TEXT,
    consecutive_failure_count  INTEGER NOT NULL DEFAULT 0,
    avg_processing_time        DOUBLE PRECISION,
    error_count                INTEGER NOT NULL DEFAULT 0,
    avg_feed_size              DOUBLE PRECISION,
    unique_jobs_processed      INTEGER NOT NULL DEFAULT 0,
    auto_approved_jobs         INTEGER NOT NULL DEFAULT 0,
    runs_count                 INTEGER NOT NULL DEFAULT 0,
    created_at                 TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at                 TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_feeds_is_active ON feeds (is_active);
CREATE INDEX idx_feeds_next_check_at ON feeds (next_check_at);

-- The four job tables, one per route, have the same columns, constraint and indexes.
DO $$
DECLARE
    job_table TEXT;
    indexed TEXT;
BEGIN
    FOREACH job_table IN ARRAY ARRAY['open_jobs', 'manual_review_jobs', 'rejected_jobs', 'archive_jobs']
    LOOP
        EXECUTE format($table$
CREATE TABLE %I (
    id                    BIGSERIAL PRIMARY KEY,
    job_hash              TEXT NOT NULL,
    feed_id               INTEGER NOT NULL,
    route                 TEXT NOT NULL,
    route_reason          TEXT NOT NULL DEFAULT '',
    status                TEXT NOT NULL,
    first_seen_run        TEXT,
    last_seen_run         TEXT,
    execution_id          BIGINT,
    external_job_id       TEXT,
    job_source            TEXT,
    partner_id            INTEGER,
    title                 TEXT NOT NULL DEFAULT '',
    company_name          TEXT NOT NULL DEFAULT '',
    description           TEXT NOT NULL DEFAULT '',
    description_text      TEXT NOT NULL DEFAULT '',
    application_url       TEXT,
    posted_at             TIMESTAMPTZ,
    expires_at            TIMESTAMPTZ,
    employment_type       TEXT NOT NULL DEFAULT 'OTHER',
    is_remote             BOOLEAN NOT NULL DEFAULT FALSE,
    is_multi_location     BOOLEAN NOT NULL DEFAULT FALSE,
    is_international      BOOLEAN NOT NULL DEFAULT FALSE,
    locations             JSONB NOT NULL DEFAULT '[]',
    location_string       TEXT,
    _geo                  JSONB,
    salary_min            NUMERIC,
    salary_max            NUMERIC,
    salary_period         TEXT,
    currency              TEXT,
    cpc                   DOUBLE PRECISION,
    cpa                   DOUBLE PRECISION,
    closed_reason         TEXT,
    ai_title              TEXT,
    ai_description        TEXT,
    ai_job_tasks          JSONB NOT NULL DEFAULT '[]',
    ai_search_terms       JSONB NOT NULL DEFAULT '[]',
    ai_top_tags           JSONB NOT NULL DEFAULT '[]',
    ai_skills             JSONB NOT NULL DEFAULT '[]',
    ai_confidence_score   NUMERIC,
    confidence_reasoning  TEXT,
    sector_id             INTEGER,
    industry_group_id     INTEGER,
    industry_id           INTEGER,
    job_function_id       INTEGER,
    sector                TEXT,
    industry_group        TEXT,
    industry              TEXT,
    job_function          TEXT,
    ih_reasoning          TEXT,
    jf_reasoning          TEXT,
    searchable_text       TEXT,
    ai_enrichment_status  TEXT,
    ai_enrichment_error   TEXT,
    enrichment_version    TEXT,
    reviewed_by           TEXT,
    reviewed_at           TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT %I UNIQUE (job_hash)
)$table$, job_table, 'uq_' || job_table || '_job_hash');
        FOREACH indexed IN ARRAY ARRAY['feed_id', 'external_job_id', 'status', 'last_seen_run', 'created_at']
        LOOP
            EXECUTE format('CREATE INDEX %I ON %I (%I)',
                           'idx_' || job_table || '_' || indexed, job_table, indexed);
        END LOOP;
    END LOOP;
END
$$;

-- The run ledger: one row per run, one outcome row per emitted record.
CREATE TABLE runs (
    run_id              TEXT PRIMARY KEY,
    feed_id             INTEGER NOT NULL,
    reason              TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT 'RUNNING',
    refresh             BOOLEAN NOT NULL DEFAULT FALSE,
    emitted             INTEGER,
    ingest              JSONB,
    started_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    ingest_finished_at  TIMESTAMPTZ,
    last_progress_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at        TIMESTAMPTZ,
    completion_published_at  TIMESTAMPTZ,
    failure_reason      TEXT
);
CREATE INDEX idx_runs_feed_id ON runs (feed_id, started_at DESC);
CREATE INDEX idx_runs_status ON runs (status);

CREATE TABLE run_outcomes (
    run_id         TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    outcome        TEXT NOT NULL,
    merge_pass     SMALLINT,
    job_hash       TEXT,
    cache_hit      BOOLEAN NOT NULL DEFAULT FALSE,
    llm_calls      INTEGER NOT NULL DEFAULT 0,
    input_tokens   INTEGER NOT NULL DEFAULT 0,
    output_tokens  INTEGER NOT NULL DEFAULT 0,
    recorded_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE execution_reports (
    id                                     BIGSERIAL PRIMARY KEY,
    run_id                                 TEXT NOT NULL UNIQUE,
    feed_id                                INTEGER NOT NULL,
    feed_name                              TEXT,
    run_status                             TEXT NOT NULL DEFAULT 'RUNNING',
    start_time                             TIMESTAMPTZ NOT NULL DEFAULT now(),
    end_time                               TIMESTAMPTZ,
    duration_seconds                       DOUBLE PRECISION,
    total_in_feed                          INTEGER NOT NULL DEFAULT 0,
    malformed_records                      INTEGER NOT NULL DEFAULT 0,
    processed_successfully                 INTEGER NOT NULL DEFAULT 0,
    skipped_closed                         INTEGER NOT NULL DEFAULT 0,
    skipped_duplicate                      INTEGER NOT NULL DEFAULT 0,
    skipped_duplicate_initial_aggregation  INTEGER NOT NULL DEFAULT 0,
    skipped_duplicate_ai_aggregation       INTEGER NOT NULL DEFAULT 0,
    records_failed                         INTEGER NOT NULL DEFAULT 0,
    jobs_closed                            INTEGER NOT NULL DEFAULT 0,
    jobs_auto_approved                     INTEGER NOT NULL DEFAULT 0,
    jobs_manual_review                     INTEGER NOT NULL DEFAULT 0,
    jobs_rejected                          INTEGER NOT NULL DEFAULT 0,
    jobs_archived                          INTEGER NOT NULL DEFAULT 0,
    archive_skipped_reason                 TEXT,
    api_calls_gemini                       INTEGER NOT NULL DEFAULT 0,
    api_calls_custom                       INTEGER NOT NULL DEFAULT 0,
    cache_hits                             INTEGER NOT NULL DEFAULT 0,
    gemini_input_tokens                    BIGINT NOT NULL DEFAULT 0,
    gemini_output_tokens                   BIGINT NOT NULL DEFAULT 0,
    gemini_total_tokens                    BIGINT NOT NULL DEFAULT 0,
    feed_file_size_bytes                   BIGINT NOT NULL DEFAULT 0,
    feed_uncompressed_bytes                BIGINT NOT NULL DEFAULT 0,
    xano_status                            TEXT,
    xano_jobs_added                        INTEGER NOT NULL DEFAULT 0,
    xano_jobs_updated                      INTEGER NOT NULL DEFAULT 0,
    xano_jobs_deleted                      INTEGER NOT NULL DEFAULT 0,
    xano_jobs_failed                       INTEGER NOT NULL DEFAULT 0,
    error_summary                          JSONB NOT NULL DEFAULT '[]',
    progress                               JSONB NOT NULL DEFAULT '{}',
    created_at                             TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at                             TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_execution_reports_feed_id ON execution_reports (feed_id, start_time DESC);
CREATE INDEX idx_execution_reports_run_status ON execution_reports (run_status);

-- Locations of a job as rows, so a merge and its kept job may arrive in any order.
CREATE TABLE job_locations (
    job_hash       TEXT NOT NULL,
    location_key   TEXT NOT NULL,
    location       JSONB NOT NULL,
    last_seen_run  TEXT NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (job_hash, location_key)
);
CREATE INDEX idx_job_locations_run ON job_locations (last_seen_run);

CREATE TABLE enrichment_cache (
    job_hash            TEXT NOT NULL,
    enrichment_version  TEXT NOT NULL,
    result              JSONB NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (job_hash, enrichment_version)
);

-- The syncer's memory of Xano: one eid per job for life, and what was last sent.
CREATE TABLE xano_records (
    job_hash     TEXT PRIMARY KEY,
    eid          TEXT NOT NULL UNIQUE,
    feed_id      INTEGER NOT NULL,
    fingerprint  TEXT,
    synced_at    TIMESTAMPTZ
);
CREATE INDEX idx_xano_records_feed_id ON xano_records (feed_id);
