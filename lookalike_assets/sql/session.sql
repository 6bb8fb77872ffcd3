-- name: set_tenant$
-- Transaction-local tenant for Row-Level Security.
select set_config('app.current_tenant', :tenant_id, true);

-- name: set_role$
-- Transaction-local role switch (equivalent to SET LOCAL ROLE).
select set_config('role', :role, true);

-- name: current_role$
select current_user;

-- name: analyze_leads#
-- After bulk writes (owner connection, outside any tenant transaction): fresh planner statistics. A table that
-- grew from nothing to many rows otherwise keeps the plans of an empty table.
analyze leads;

-- name: analyze_lead_features#
analyze lead_features;

-- name: analyze_lead_embeddings#
analyze lead_embeddings;
