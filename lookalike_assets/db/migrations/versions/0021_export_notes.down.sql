ALTER TABLE lookalike_export_job DROP COLUMN IF EXISTS note;
