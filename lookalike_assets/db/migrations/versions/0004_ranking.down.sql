DROP TABLE IF EXISTS lookalike_ranking_model;
