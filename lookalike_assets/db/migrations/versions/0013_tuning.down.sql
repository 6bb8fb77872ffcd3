DROP TABLE IF EXISTS lookalike_tuning_log;
