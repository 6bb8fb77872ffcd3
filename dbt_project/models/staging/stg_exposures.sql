select
    tenant_id,
    audience_id,
    lead_id,
    first_exported_at,
    last_exported_at,
    exports
from {{ source('lookalike', 'lookalike_exposure') }}
