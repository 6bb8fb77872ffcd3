-- POST /v1/tenants/{tenant_id}/leads/score looks for a stored lead with the same normalized email
-- (online.sql: duplicate_lead). Without this index that is a scan of all the tenant's leads on every call.
CREATE INDEX leads_email_normalized_idx ON leads (tenant_id, lower(btrim(email)));
