select
    tenant_id,
    step_id,
    run_id,
    asset,
    started_at,
    (started_at at time zone 'UTC')::date as day,
    seconds,
    status,
    error_class,
    row_count,
    (metrics ->> 'coverage')::numeric as coverage
from {{ source('lookalike', 'lookalike_step_log') }}
