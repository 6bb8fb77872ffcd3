select
    tenant_id,
    candidate_id,
    audience_id,
    lead_id,
    similarity_score,
    decile,
    rank_score,
    status,
    reasons,
    created_at,
    updated_at
from {{ source('lookalike', 'lookalike_candidate') }}
