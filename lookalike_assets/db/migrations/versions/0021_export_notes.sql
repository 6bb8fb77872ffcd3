ALTER TABLE lookalike_export_job ADD COLUMN note text CHECK (length(note) <= 2000);
COMMENT ON COLUMN lookalike_export_job.note IS 'What the export left out of the platform''s columns and why (e.g. Google: a name without a postal code is not sent); NULL when nothing.';
