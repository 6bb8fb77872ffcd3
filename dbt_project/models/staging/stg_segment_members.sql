select
    tenant_id,
    audience_id,
    candidate_id,
    segment_no
from {{ source('lookalike', 'lookalike_segment_member') }}
