select
    tenant_id,
    conversion_id,
    audience_id,
    candidate_id,
    lead_id,
    event_day,
    event_type,
    {{ is_conversion('event_type') }} as is_conversion,
    value,
    occurred_at,
    similarity_score,
    decile,
    rank_score,
    attributed_at
from {{ source('lookalike', 'lookalike_conversion_fact') }}
