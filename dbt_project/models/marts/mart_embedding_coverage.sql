-- Per tenant: leads, embedded leads, stale embeddings (features changed since), and the model version(s).
with leads as (
    select tenant_id, count(*) as leads from {{ ref('stg_leads') }} group by tenant_id
),

embeddings as (
    select
        tenant_id,
        count(*) as embedded,
        count(*) filter (where is_stale) as stale,
        string_agg(distinct model_version, ', ') as model_version,
        max(computed_at) as last_embedded_at
    from {{ ref('stg_lead_embeddings') }}
    group by tenant_id
)

select
    l.tenant_id,
    l.leads,
    coalesce(e.embedded, 0) as embedded,
    coalesce(e.stale, 0) as stale,
    round(coalesce(e.embedded, 0)::numeric / nullif(l.leads, 0), 4)::numeric(6, 4) as coverage,
    e.model_version,
    e.last_embedded_at
from leads as l
left join embeddings as e on e.tenant_id = l.tenant_id
