-- Backfills: re-enrichment of a feed's (or every feed's) open and review jobs, driven
-- through Gemini's Batch API from this state, so a restart of the process driving it resumes
-- where it stopped (services/enricher/backfill/). Each job is one item; each Batch API job
-- one row of backfill_batches, recorded before it is created and found again by its unique
-- display name after a crash, so no request is ever sent twice.
CREATE TABLE backfills (
    backfill_id  BIGSERIAL PRIMARY KEY,
    feed_id      INTEGER,                       -- NULL: every feed
    stage        TEXT NOT NULL DEFAULT 'enrich',
    batch_api    BOOLEAN NOT NULL,
    version      TEXT NOT NULL DEFAULT '',      -- the enrichment version it was planned for
    status       TEXT NOT NULL DEFAULT 'running',   -- running | completed
    jobs         INTEGER NOT NULL DEFAULT 0,
    -- in every batch's display name: unique across databases sharing one Gemini account
    token        TEXT NOT NULL DEFAULT gen_random_uuid()::text,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at  TIMESTAMPTZ
);

CREATE TABLE backfill_items (
    backfill_id  BIGINT NOT NULL REFERENCES backfills ON DELETE CASCADE,
    feed_id      INTEGER NOT NULL,
    seq          INTEGER NOT NULL,              -- the job's seq in its feed's backfill run
    job_hash     TEXT NOT NULL,
    job          JSONB NOT NULL,                -- the posting as read (and cleaned) at the start
    -- each stage's accepted answer; JSON null: the stage is over without one (not needed,
    -- or failed: see error / incomplete); SQL NULL: not answered yet
    enrich       JSONB,
    function     JSONB,
    searchable   JSONB,
    error        TEXT,                          -- a failed stage 1 or 2: the job fails
    incomplete   TEXT,                          -- a failed stage 3: enriched, never cached
    attempts     INTEGER NOT NULL DEFAULT 0,    -- requests the server failed (retried)
    PRIMARY KEY (backfill_id, feed_id, seq)
);

CREATE TABLE backfill_batches (
    backfill_id   BIGINT NOT NULL REFERENCES backfills ON DELETE CASCADE,
    number        INTEGER NOT NULL,
    stage         TEXT NOT NULL,
    display_name  TEXT NOT NULL UNIQUE,
    requests      JSONB NOT NULL,               -- [[[feed_id, seq], ...] per request line]
    name          TEXT,                         -- batches/..., once created
    -- planned | submitting (being created: looked up by display name after a crash) |
    -- submitted | done | expired (never run: its jobs are planned again)
    state         TEXT NOT NULL DEFAULT 'planned',
    PRIMARY KEY (backfill_id, number)
);

CREATE TABLE backfill_runs (
    backfill_id  BIGINT NOT NULL REFERENCES backfills ON DELETE CASCADE,
    feed_id      INTEGER NOT NULL,
    run_id       TEXT NOT NULL,
    -- the items the run carries, fixed when it starts: jobs since changed or taken out of
    -- the live tables by a run of the feed are left to that run
    seqs         INTEGER[] NOT NULL,
    published    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (backfill_id, feed_id)
);
