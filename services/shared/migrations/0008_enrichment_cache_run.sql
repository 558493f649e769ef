-- The run whose enricher stored each cached result: a job enriched again within that same run
-- (its batch redelivered after a crash) is that run's own work, not a hit on an earlier run's.
ALTER TABLE enrichment_cache ADD COLUMN run_id TEXT;
