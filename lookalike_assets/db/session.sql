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

-- name: table_columns
-- The columns of one of lookalike's tables, for the column schema Dagster shows.
select column_name, data_type, is_nullable = 'NO' as required
from information_schema.columns
where table_schema = 'public' and table_name = :table
order by ordinal_position;

-- name: tenant_rows$
-- Rows of a table the current tenant sees (inside its tenant transaction).
select lookalike_tenant_rows(:table::regclass);

-- name: table_rows$
-- All rows of a table (schema-qualified name) as its owner, whom Row-Level Security does not filter: a mart's row
-- count across tenants for its materialization in Dagster.
select lookalike_tenant_rows(:table::regclass);
