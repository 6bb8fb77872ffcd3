-- Destinations: where a tenant's audiences are synced (Meta, Google Ads, LinkedIn, a webhook, S3-compatible
-- storage), by name. `options` holds what is not secret (ad account, URL, bucket, another API address); `sealed`
-- the credentials, encrypted by the application (Fernet, key derived from LOOKALIKE_SECRET): only the pipeline's
-- login, which syncs, may read that column; the people's and applications' logins write it and never read it.
CREATE TABLE lookalike_destination (
  tenant_id       uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  destination_id  uuid NOT NULL DEFAULT gen_random_uuid(),
  name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  platform        text NOT NULL CHECK (platform IN ('meta', 'google', 'linkedin', 'webhook', 's3')),
  options         jsonb NOT NULL DEFAULT '{}'::jsonb,
  sealed          bytea,
  status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
  failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
  paused_reason   text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, destination_id),
  UNIQUE (tenant_id, name)
);
CREATE TRIGGER destination_touch BEFORE UPDATE ON lookalike_destination
  FOR EACH ROW EXECUTE FUNCTION lookalike_touch_updated_at();
SELECT lookalike_protect_table('lookalike_destination');
GRANT SELECT (tenant_id, destination_id, name, platform, options, status, failures, paused_reason, created_at,
              updated_at),
      INSERT, DELETE,
      UPDATE (name, options, sealed, status, failures, paused_reason)
  ON lookalike_destination TO lookalike_app_access;
GRANT SELECT, UPDATE (status, failures, paused_reason) ON lookalike_destination TO lookalike_pipeline;

-- An audience on a destination: the platform's own id of it (a Meta custom audience, a Google user list...).
CREATE TABLE lookalike_destination_audience (
  tenant_id       uuid NOT NULL,
  destination_id  uuid NOT NULL,
  audience_id     uuid NOT NULL,
  external_id     text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, destination_id, audience_id),
  FOREIGN KEY (tenant_id, destination_id) REFERENCES lookalike_destination (tenant_id, destination_id)
    ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, audience_id) REFERENCES lookalike_audience (tenant_id, audience_id) ON DELETE CASCADE
);
CREATE INDEX lookalike_destination_audience_audience_idx ON lookalike_destination_audience (tenant_id, audience_id);
SELECT lookalike_protect_table('lookalike_destination_audience');
GRANT SELECT, INSERT ON lookalike_destination_audience TO lookalike_pipeline;
GRANT SELECT ON lookalike_destination_audience TO lookalike_app_access;

-- What a destination holds of an audience, as lookalike last sent it: one row per identifier key (the platform's
-- hash of the person's email), written in the transaction that records the batch that sent it, so a sync killed
-- between two batches resumes from exactly what was sent. No lead id foreign key on purpose: a lead erased or
-- deleted must still be removed from the platform at the next sync (its row goes once that remove is sent).
CREATE TABLE lookalike_destination_member (
  tenant_id       uuid NOT NULL,
  destination_id  uuid NOT NULL,
  audience_id     uuid NOT NULL,
  member_key      text NOT NULL,
  sent_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, destination_id, audience_id, member_key),
  FOREIGN KEY (tenant_id, destination_id, audience_id)
    REFERENCES lookalike_destination_audience (tenant_id, destination_id, audience_id) ON DELETE CASCADE
);
SELECT lookalike_protect_table('lookalike_destination_member');
GRANT SELECT, INSERT, DELETE ON lookalike_destination_member TO lookalike_pipeline;

-- Every sync of an audience to a destination: what was sent, what the platform reported, how it ended.
CREATE TABLE lookalike_destination_sync (
  tenant_id       uuid NOT NULL,
  sync_id         uuid NOT NULL DEFAULT gen_random_uuid(),
  destination_id  uuid NOT NULL,
  audience_id     uuid NOT NULL,
  run_id          text,
  status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
  added           integer NOT NULL DEFAULT 0,
  removed         integer NOT NULL DEFAULT 0,
  batches         integer NOT NULL DEFAULT 0,
  attempts        integer NOT NULL DEFAULT 0,
  received        integer,
  invalid         integer,
  report          jsonb NOT NULL DEFAULT '{}'::jsonb,
  error           text,
  started_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz,
  PRIMARY KEY (tenant_id, sync_id),
  FOREIGN KEY (tenant_id, destination_id) REFERENCES lookalike_destination (tenant_id, destination_id)
    ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, audience_id) REFERENCES lookalike_audience (tenant_id, audience_id) ON DELETE CASCADE
);
CREATE INDEX lookalike_destination_sync_idx ON lookalike_destination_sync (tenant_id, audience_id, started_at DESC);
CREATE INDEX lookalike_destination_sync_destination_idx ON lookalike_destination_sync (tenant_id, destination_id,
                                                                                      started_at DESC);
SELECT lookalike_protect_table('lookalike_destination_sync');
GRANT SELECT, INSERT, UPDATE ON lookalike_destination_sync TO lookalike_pipeline;
GRANT SELECT ON lookalike_destination_sync TO lookalike_app_access;
