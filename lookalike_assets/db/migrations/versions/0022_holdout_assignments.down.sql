DROP TABLE IF EXISTS lookalike_holdout_assignment;
