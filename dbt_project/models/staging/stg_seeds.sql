select
    tenant_id,
    seed_id,
    lead_id,
    label,
    created_at,
    deleted_at is null as is_live
from {{ source('lookalike', 'lookalike_seed') }}
