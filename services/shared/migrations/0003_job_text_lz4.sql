-- lz4 instead of pglz for the job tables' long text (issue #5).
--
-- A job row with a full description passes PostgreSQL's 2 kB TOAST threshold, so every
-- insert compresses its longest text values; pglz is several times slower than lz4 at
-- that, for a similar size on prose. Only values written from now on use lz4; stored ones
-- stay readable as they are. (PostgreSQL 15 from Debian and the postgres image are built
-- with lz4.)

ALTER TABLE open_jobs
    ALTER COLUMN description SET COMPRESSION lz4,
    ALTER COLUMN description_text SET COMPRESSION lz4,
    ALTER COLUMN ai_description SET COMPRESSION lz4,
    ALTER COLUMN searchable_text SET COMPRESSION lz4;

ALTER TABLE manual_review_jobs
    ALTER COLUMN description SET COMPRESSION lz4,
    ALTER COLUMN description_text SET COMPRESSION lz4,
    ALTER COLUMN ai_description SET COMPRESSION lz4,
    ALTER COLUMN searchable_text SET COMPRESSION lz4;

ALTER TABLE rejected_jobs
    ALTER COLUMN description SET COMPRESSION lz4,
    ALTER COLUMN description_text SET COMPRESSION lz4,
    ALTER COLUMN ai_description SET COMPRESSION lz4,
    ALTER COLUMN searchable_text SET COMPRESSION lz4;

ALTER TABLE archive_jobs
    ALTER COLUMN description SET COMPRESSION lz4,
    ALTER COLUMN description_text SET COMPRESSION lz4,
    ALTER COLUMN ai_description SET COMPRESSION lz4,
    ALTER COLUMN searchable_text SET COMPRESSION lz4;
