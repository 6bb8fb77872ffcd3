select
    tenant_id,
    conversion_id,
    event_id,
    lead_id,
    candidate_id,
    event_type,
    {{ is_conversion('event_type') }} as is_conversion,
    value,
    occurred_at,
    (occurred_at at time zone 'UTC')::date as event_day,
    source,
    received_at
from {{ source('lookalike', 'lookalike_conversion') }}
