-- name: set_tenant$
-- Transaction-local tenant for Row-Level Security.
select set_config('app.current_tenant', :tenant_id, true);

-- name: set_role$
-- Transaction-local role switch (equivalent to SET LOCAL ROLE).
select set_config('role', :role, true);

-- name: current_role$
select current_user;

-- name: analyze_table!
-- After bulk writes: fresh planner statistics. A table that grew from nothing to many rows otherwise keeps the
-- plans of an empty table. (ANALYZE needs the owner: lookalike_analyze runs it for the service logins.)
select lookalike_analyze(:table);
