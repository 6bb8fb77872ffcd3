DROP TABLE IF EXISTS lookalike_column_meaning;
