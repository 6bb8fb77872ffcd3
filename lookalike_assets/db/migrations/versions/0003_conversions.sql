-- Revision 0003: the feedback loop.

ALTER TABLE lookalike_conversion ADD COLUMN source text NOT NULL DEFAULT 'api';
CREATE INDEX lookalike_conversion_tenant_lead_idx ON lookalike_conversion (tenant_id, lead_id);

-- Events that could not be accepted (unknown lead, another tenant's lead, bad values), kept with the reason.
CREATE TABLE lookalike_conversion_quarantine (
  tenant_id      uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  quarantine_id  uuid NOT NULL DEFAULT gen_random_uuid(),
  event_id       text,
  raw            jsonb NOT NULL,
  reason         text NOT NULL,
  source         text NOT NULL,
  received_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, quarantine_id)
);

-- Conversions attributed to the candidates (and so the audiences) that picked the lead.
CREATE TABLE lookalike_conversion_fact (
  tenant_id         uuid NOT NULL,
  conversion_id     uuid NOT NULL,
  audience_id       uuid NOT NULL,
  candidate_id      uuid NOT NULL,
  lead_id           uuid NOT NULL,
  event_day         date NOT NULL,
  event_type        text NOT NULL,
  value             numeric(14, 2),
  occurred_at       timestamptz NOT NULL,
  similarity_score  real NOT NULL,
  decile            smallint NOT NULL,
  rank_score        real,
  attributed_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, conversion_id, audience_id),
  FOREIGN KEY (tenant_id, conversion_id) REFERENCES lookalike_conversion (tenant_id, conversion_id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, candidate_id) REFERENCES lookalike_candidate (tenant_id, candidate_id) ON DELETE CASCADE
);
CREATE INDEX lookalike_conversion_fact_day_idx ON lookalike_conversion_fact (event_day, tenant_id);
-- Indexes behind the foreign keys, so that replacing a pool (deleting candidates) does not scan these tables.
CREATE INDEX lookalike_conversion_fact_candidate_idx ON lookalike_conversion_fact (tenant_id, candidate_id);
CREATE INDEX lookalike_conversion_fact_conversion_idx ON lookalike_conversion_fact (tenant_id, conversion_id);
CREATE INDEX lookalike_conversion_candidate_idx ON lookalike_conversion (tenant_id, candidate_id)
  WHERE candidate_id IS NOT NULL;

SELECT lookalike_protect_table('lookalike_conversion_quarantine');
SELECT lookalike_protect_table('lookalike_conversion_fact');
GRANT SELECT, INSERT ON lookalike_conversion_quarantine TO lookalike_app, lookalike_pipeline;
GRANT SELECT, INSERT, UPDATE, DELETE ON lookalike_conversion_fact TO lookalike_pipeline;
GRANT SELECT ON lookalike_conversion_fact TO lookalike_app;

-- The change log also says which days conversions landed on (a day, not lead data), so that the facts of
-- exactly those days are rebuilt, late events included.
ALTER TABLE lookalike_change_log ADD COLUMN event_day date;

CREATE OR REPLACE FUNCTION lookalike_log_conversion_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO lookalike_change_log (tenant_id, entity, op, row_count, event_day)
    SELECT tenant_id, 'conversion', TG_OP, count(*), (occurred_at AT TIME ZONE 'UTC')::date
    FROM old_rows GROUP BY tenant_id, (occurred_at AT TIME ZONE 'UTC')::date;
  ELSE
    INSERT INTO lookalike_change_log (tenant_id, entity, op, row_count, event_day)
    SELECT tenant_id, 'conversion', TG_OP, count(*), (occurred_at AT TIME ZONE 'UTC')::date
    FROM new_rows GROUP BY tenant_id, (occurred_at AT TIME ZONE 'UTC')::date;
  END IF;
  RETURN NULL;
END
$fn$;
REVOKE ALL ON FUNCTION lookalike_log_conversion_changes() FROM PUBLIC;

DROP TRIGGER lookalike_conversion_log_ins ON lookalike_conversion;
DROP TRIGGER lookalike_conversion_log_upd ON lookalike_conversion;
DROP TRIGGER lookalike_conversion_log_del ON lookalike_conversion;
CREATE TRIGGER lookalike_conversion_log_ins AFTER INSERT ON lookalike_conversion REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION lookalike_log_conversion_changes();
CREATE TRIGGER lookalike_conversion_log_upd AFTER UPDATE ON lookalike_conversion REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION lookalike_log_conversion_changes();
CREATE TRIGGER lookalike_conversion_log_del AFTER DELETE ON lookalike_conversion REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION lookalike_log_conversion_changes();
