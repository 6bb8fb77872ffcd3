select
    tenant_id,
    lead_id,
    external_id,
    industry,
    company_size,
    country,
    region,
    seniority,
    is_seed,
    created_at,
    updated_at
from {{ source('lookalike', 'leads') }}
