select
    tenant_id,
    audience_id,
    lead_id,
    assigned_at
from {{ source('lookalike', 'lookalike_holdout_assignment') }}
