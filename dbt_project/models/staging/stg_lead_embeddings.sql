select
    e.tenant_id,
    e.lead_id,
    e.model_version,
    e.computed_at,
    (e.content_hash <> f.content_hash) as is_stale
from {{ source('lookalike', 'lead_embeddings') }} as e
left join {{ source('lookalike', 'lead_features') }} as f
    on f.tenant_id = e.tenant_id and f.lead_id = e.lead_id
