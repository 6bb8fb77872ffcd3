-- Balanced segments of each published audience (the audience_segments asset): a segment per row with its readable
-- profile, and which member is in which segment. Tenant-keyed with composite keys, Row-Level Security forced.
CREATE TABLE lookalike_audience_segment (
  tenant_id        uuid NOT NULL,
  audience_id      uuid NOT NULL,
  segment_no       smallint NOT NULL CHECK (segment_no BETWEEN 1 AND 50),
  name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  size             integer NOT NULL CHECK (size > 0),
  share            real NOT NULL CHECK (share > 0 AND share <= 1),
  mean_similarity  real NOT NULL,
  mean_rank_score  real,
  traits           jsonb NOT NULL DEFAULT '[]'::jsonb,
  profile          jsonb NOT NULL DEFAULT '{}'::jsonb,
  computed_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, audience_id, segment_no),
  FOREIGN KEY (tenant_id, audience_id) REFERENCES lookalike_audience (tenant_id, audience_id) ON DELETE CASCADE
);
COMMENT ON TABLE lookalike_audience_segment IS
  'Segments of a published audience (constrained k-medians over its members'' vectors), largest first.';
COMMENT ON COLUMN lookalike_audience_segment.traits IS
  'The most distinctive values: [{field, value, share, audience_share, lift}], most distinctive first.';

CREATE TABLE lookalike_segment_member (
  tenant_id     uuid NOT NULL,
  audience_id   uuid NOT NULL,
  candidate_id  uuid NOT NULL,
  segment_no    smallint NOT NULL,
  PRIMARY KEY (tenant_id, audience_id, candidate_id),
  FOREIGN KEY (tenant_id, audience_id, segment_no)
    REFERENCES lookalike_audience_segment (tenant_id, audience_id, segment_no) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, audience_id, candidate_id)
    REFERENCES lookalike_audience_member (tenant_id, audience_id, candidate_id) ON DELETE CASCADE
);
CREATE INDEX lookalike_segment_member_segment_idx ON lookalike_segment_member (tenant_id, audience_id, segment_no);

SELECT lookalike_protect_table('lookalike_audience_segment');
SELECT lookalike_protect_table('lookalike_segment_member');
GRANT SELECT, INSERT, UPDATE, DELETE ON lookalike_audience_segment, lookalike_segment_member TO lookalike_pipeline;
GRANT SELECT ON lookalike_audience_segment, lookalike_segment_member TO lookalike_app_access;

-- An export of one segment of an audience (destinations with "per_segment": true).
ALTER TABLE lookalike_export_job ADD COLUMN segment_no smallint CHECK (segment_no BETWEEN 1 AND 50);
COMMENT ON COLUMN lookalike_export_job.segment_no IS 'The segment exported; NULL for the whole audience.';
