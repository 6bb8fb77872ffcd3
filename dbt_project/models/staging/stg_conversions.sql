select
    tenant_id,
    conversion_id,
    event_id,
    lead_id,
    candidate_id,
    event_type,
    event_type in (
        {%- for t in var('conversion_event_types') %}'{{ t }}'{% if not loop.last %}, {% endif %}{% endfor -%}
    ) as is_conversion,
    value,
    occurred_at,
    (occurred_at at time zone 'UTC')::date as event_day,
    source,
    received_at
from {{ source('lookalike', 'lookalike_conversion') }}
