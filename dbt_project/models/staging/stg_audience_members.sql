select
    tenant_id,
    audience_id,
    candidate_id,
    added_at
from {{ source('lookalike', 'lookalike_audience_member') }}
