-- Dagster's run, event and schedule storage lives in its own database next to lookalike's.
CREATE DATABASE dagster;
