select
    tenant_id,
    audience_id,
    name as audience_name,
    status,
    size_estimate,
    seed_set,
    coalesce((rules -> 'holdout' ->> 'percent')::numeric, 0) as holdout_percent,
    updated_at,
    (metadata -> 'membership' ->> 'refreshed_at')::timestamptz as last_membership_refresh_at
from {{ source('lookalike', 'lookalike_audience') }}
