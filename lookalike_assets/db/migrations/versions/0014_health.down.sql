DROP TABLE IF EXISTS lookalike_step_log;
