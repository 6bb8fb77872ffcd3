"""Domain logic: plain Python and numpy, with no knowledge of Dagster or of the database."""
