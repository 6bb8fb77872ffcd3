select
    tenant_id,
    audience_id,
    candidate_id,
    arm,
    added_at
from {{ source('lookalike', 'lookalike_audience_member') }}
