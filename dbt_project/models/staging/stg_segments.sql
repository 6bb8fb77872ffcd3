select
    tenant_id,
    audience_id,
    segment_no,
    name as segment_name,
    size,
    share,
    mean_similarity,
    mean_rank_score,
    traits,
    computed_at
from {{ source('lookalike', 'lookalike_audience_segment') }}
