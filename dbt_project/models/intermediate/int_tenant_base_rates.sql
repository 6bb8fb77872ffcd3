-- A tenant's base rate: the share of all its leads with a conversion event, candidates or not.
with leads as (
    select tenant_id, count(*) as leads from {{ ref('stg_leads') }} group by tenant_id
),

converted as (
    select tenant_id, count(distinct lead_id) as converted_leads
    from {{ ref('stg_conversions') }}
    where is_conversion
    group by tenant_id
)

select
    l.tenant_id,
    l.leads,
    coalesce(c.converted_leads, 0) as converted_leads,
    coalesce(c.converted_leads, 0)::numeric / nullif(l.leads, 0) as base_rate
from leads as l
left join converted as c on c.tenant_id = l.tenant_id
