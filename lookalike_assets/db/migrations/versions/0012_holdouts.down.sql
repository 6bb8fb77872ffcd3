ALTER TABLE lookalike_audience_member DROP COLUMN IF EXISTS arm;
