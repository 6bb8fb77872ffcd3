-- Dagster's run, event and schedule storage, and the BI starter's own application database, live in databases of
-- their own next to lookalike's.
CREATE DATABASE dagster;
CREATE DATABASE metabase;
