-- The operator console: accounts, their API tokens and browser sessions, the audit log, and
-- the indexes that keep the review queue's keyset pages fast.

CREATE TABLE users (
    id             SERIAL PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,              -- argon2id, never the password
    role           TEXT NOT NULL CHECK (role IN ('viewer', 'reviewer', 'admin')),
    is_active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A token is 32 random bytes: a SHA-256 digest of it is as good as a slow hash, and lets the
-- API find it by equality on every request.
CREATE TABLE api_tokens (
    id            SERIAL PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_sha256  TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_api_tokens_user ON api_tokens (user_id);

-- Browser sessions, by the digest of the cookie's value; each carries its CSRF token.
CREATE TABLE console_sessions (
    id_sha256   TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_console_sessions_user ON console_sessions (user_id);

-- Failed logins, counted over a window to rate-limit guessing (by name and by address).
CREATE TABLE login_failures (
    id         BIGSERIAL PRIMARY KEY,
    username   TEXT NOT NULL,
    address    TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_login_failures_username ON login_failures (username, at);
CREATE INDEX idx_login_failures_address ON login_failures (address, at);

CREATE TABLE audit_log (
    id        BIGSERIAL PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    username  TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL DEFAULT '',
    detail    JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX idx_audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX idx_audit_log_target ON audit_log (target);

-- The review queue's two orders, as keyset pages read them (confidence first, or oldest).
CREATE INDEX idx_manual_review_jobs_confidence
    ON manual_review_jobs ((COALESCE(ai_confidence_score, 0)), job_hash);
CREATE INDEX idx_manual_review_jobs_created_hash ON manual_review_jobs (created_at, job_hash);
-- A job page's previous and next: the same order within the job's feed.
CREATE INDEX idx_manual_review_jobs_feed_confidence
    ON manual_review_jobs (feed_id, (COALESCE(ai_confidence_score, 0)), job_hash);
