-- One Gemini requests/tokens budget for the whole deployment (services/enricher/backends/
-- gemini/budget.py, SharedBudget): every enricher replica books each request here first.

-- A budget's scope (model and endpoint); its row is the lock bookings take in turn, and it
-- remembers a 429's retry delay, so every replica holds off, not only the one refused.
CREATE TABLE llm_budget_scopes (
    scope         TEXT PRIMARY KEY,
    paused_until  TIMESTAMPTZ
);

-- One booked request. It counts against the window until `counts_until`: while in flight,
-- its booking time plus the longest a call may take (so a replica killed mid-call frees its
-- booking after that); once settled, the moment its answer came back, which is after Gemini
-- received it, so no minute Gemini counts can hold more than the budget.
CREATE TABLE llm_budget_bookings (
    id            BIGSERIAL PRIMARY KEY,
    scope         TEXT NOT NULL REFERENCES llm_budget_scopes (scope),
    tokens        BIGINT NOT NULL,
    booked_at     TIMESTAMPTZ NOT NULL,
    counts_until  TIMESTAMPTZ NOT NULL
);
CREATE INDEX llm_budget_bookings_scope ON llm_budget_bookings (scope, counts_until);

-- Books one request of `p_tokens` if it fits the window now: returns its id and 0, or no id
-- and the seconds to wait before asking again. One round trip; PostgreSQL's clock, so the
-- replicas' clocks never matter. A request larger than the whole token budget still goes
-- through once the window is empty (refusing it for ever would stall the pipeline).
-- Bookings commit without waiting for the WAL flush (most of their cost otherwise): a
-- database crash may forget the last few milliseconds of bookings, and nothing else.
CREATE FUNCTION llm_budget_book(
    p_scope TEXT, p_rpm INTEGER, p_tpm BIGINT, p_tokens BIGINT,
    p_window_s DOUBLE PRECISION, p_hold_s DOUBLE PRECISION
) RETURNS TABLE (booking_id BIGINT, wait_s DOUBLE PRECISION)
LANGUAGE plpgsql AS $$
DECLARE
    paused   TIMESTAMPTZ;
    now_ts   TIMESTAMPTZ;
    since    TIMESTAMPTZ;
    booked   INTEGER;
    used     BIGINT;
    oldest   TIMESTAMPTZ;
    new_id   BIGINT;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT s.paused_until INTO paused FROM llm_budget_scopes s
        WHERE s.scope = p_scope FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO llm_budget_scopes (scope) VALUES (p_scope) ON CONFLICT DO NOTHING;
        SELECT s.paused_until INTO paused FROM llm_budget_scopes s
            WHERE s.scope = p_scope FOR UPDATE;
    END IF;
    now_ts := clock_timestamp();  -- read under the lock: the previous booker has committed
    IF paused > now_ts THEN
        RETURN QUERY SELECT NULL::BIGINT, extract(epoch FROM paused - now_ts)::DOUBLE PRECISION;
        RETURN;
    END IF;
    since := now_ts - make_interval(secs => p_window_s);
    DELETE FROM llm_budget_bookings b WHERE b.scope = p_scope AND b.counts_until < since;
    SELECT count(*), coalesce(sum(b.tokens), 0), min(b.counts_until)
        INTO booked, used, oldest
        FROM llm_budget_bookings b WHERE b.scope = p_scope;
    IF booked = 0 OR (booked < p_rpm AND used + p_tokens <= p_tpm) THEN
        INSERT INTO llm_budget_bookings (scope, tokens, booked_at, counts_until)
            VALUES (p_scope, p_tokens, now_ts, now_ts + make_interval(secs => p_hold_s))
            RETURNING id INTO new_id;
        RETURN QUERY SELECT new_id, 0.0::DOUBLE PRECISION;
        RETURN;
    END IF;
    RETURN QUERY SELECT NULL::BIGINT, greatest(
        extract(epoch FROM oldest + make_interval(secs => p_window_s) - now_ts)::DOUBLE PRECISION,
        0.001);
END
$$;

-- A call is over: its booking counts from now on with the tokens it really used.
CREATE FUNCTION llm_budget_settle(p_id BIGINT, p_tokens BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    UPDATE llm_budget_bookings SET tokens = p_tokens, counts_until = clock_timestamp()
        WHERE id = p_id;
END
$$;

-- Gemini answered 429: no replica books anything for `p_seconds`.
CREATE FUNCTION llm_budget_pause(p_scope TEXT, p_seconds DOUBLE PRECISION) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    UPDATE llm_budget_scopes SET paused_until = GREATEST(paused_until,
        clock_timestamp() + make_interval(secs => p_seconds)) WHERE scope = p_scope;
END
$$;

-- Cost accounting: tokens by kind and their cost in money, per stage, for each job's LLM
-- calls ({"enriched_jobs": {"calls": 1, "input": 900, "cached_input": 600, "output": 120,
-- "thinking": 0, "cost_usd": 0.0002}, ...}); the reason a job was not sent to the LLM
-- because its run reached its cost ceiling.
ALTER TABLE run_outcomes
    ADD COLUMN llm_usage JSONB,
    ADD COLUMN llm_paused_reason TEXT;
-- (the usage travels as JSON text: asyncpg's binary composites cannot carry a text codec)
ALTER TYPE outcome_input
    ADD ATTRIBUTE llm_usage TEXT,
    ADD ATTRIBUTE llm_paused_reason TEXT;

ALTER TABLE execution_reports
    ADD COLUMN gemini_cached_input_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN gemini_thinking_tokens     BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN llm_cost_usd               DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN llm_usage_by_stage         JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN llm_paused_jobs            INTEGER NOT NULL DEFAULT 0;

-- What each run has spent on the LLM so far, added to by every enricher replica after each
-- batch: the run's cost ceiling (LLM_RUN_COST_CEILING_USD) is checked against it.
CREATE TABLE run_llm_spend (
    run_id      TEXT PRIMARY KEY,
    cost_usd    DOUBLE PRECISION NOT NULL DEFAULT 0,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
