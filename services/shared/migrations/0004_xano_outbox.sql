-- The syncer's safety nets (issue #14).

-- Reviewer approvals whose push to Xano has not landed yet: written before the push, removed
-- once Xano confirms it (or the job is no longer open), retried with backoff until then.
CREATE TABLE xano_outbox (
    job_hash         TEXT PRIMARY KEY,
    feed_id          INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_xano_outbox_due ON xano_outbox (next_attempt_at);

-- An operator's word that the next reconcile of a feed may delete more than the cap
-- (`jobstream xano confirm-deletes FEED`); used up by the reconcile that needs it.
CREATE TABLE xano_delete_confirmations (
    feed_id       INTEGER PRIMARY KEY,
    max_deletes   INTEGER CHECK (max_deletes IS NULL OR max_deletes >= 0),  -- NULL: any number
    confirmed_by  TEXT NOT NULL,
    confirmed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL
);
