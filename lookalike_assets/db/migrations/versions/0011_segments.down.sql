ALTER TABLE lookalike_export_job DROP COLUMN IF EXISTS segment_no;
DROP TABLE IF EXISTS lookalike_segment_member;
DROP TABLE IF EXISTS lookalike_audience_segment;
