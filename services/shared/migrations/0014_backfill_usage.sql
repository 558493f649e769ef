-- What each backfill job's Batch API requests used, by stage ({"enriched_jobs": {"calls": 1,
-- "input": 900, "cached_input": 600, "output": 120, "thinking": 0, "cost_usd": 0}, ...}):
-- kept with its answers, so a backfill's cost survives a restart of its driver and reaches
-- its runs' reports and the cost ceiling (services/enricher/backfill/). Tokens only: the
-- driver prices them at the Batch API rate when it needs the cost.
ALTER TABLE backfill_items ADD COLUMN usage JSONB;
