-- Dead letters put back on their source topic by `jobstream dlq redrive` (issue #14).
--
-- A dead-letter topic has one partition, so (dlq_topic, dlq_offset) names a letter for
-- good: a letter with a row here was re-driven, and a second redrive leaves it alone.

CREATE TABLE IF NOT EXISTS dead_letter_redrives (
    dlq_topic        text        NOT NULL,
    dlq_offset       bigint      NOT NULL,
    source_topic     text        NOT NULL,
    source_partition integer     NOT NULL,
    source_offset    bigint      NOT NULL,
    run_id           text,
    redriven_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dlq_topic, dlq_offset)
);
