select
    tenant_id,
    export_job_id,
    audience_id,
    destination,
    format,
    status,
    attempts,
    row_count,
    started_at,
    finished_at
from {{ source('lookalike', 'lookalike_export_job') }}
