-- One row per candidate: is it a member of its audience now, and did its lead convert in that audience (an event
-- of a conversion type attributed to the audience and the lead: facts are kept by lead, so a lead that left the
-- pool and came back keeps its outcome)?
with outcomes as (
    select
        tenant_id,
        audience_id,
        lead_id,
        bool_or(is_conversion) as converted,
        sum(value) filter (where is_conversion) as conversion_value,
        min(occurred_at) filter (where is_conversion) as first_converted_at
    from {{ ref('stg_conversion_facts') }}
    group by tenant_id, audience_id, lead_id
)

select
    c.tenant_id,
    c.audience_id,
    c.candidate_id,
    c.lead_id,
    c.similarity_score,
    c.decile,
    c.rank_score,
    coalesce(c.rank_score, c.similarity_score) as score,
    (m.candidate_id is not null) as is_member,
    m.arm,
    coalesce(o.converted, false) as converted,
    coalesce(o.conversion_value, 0) as conversion_value,
    o.first_converted_at
from {{ ref('stg_candidates') }} as c
left join {{ ref('stg_audience_members') }} as m
    on m.tenant_id = c.tenant_id and m.audience_id = c.audience_id and m.candidate_id = c.candidate_id
left join outcomes as o
    on o.tenant_id = c.tenant_id and o.audience_id = c.audience_id and o.lead_id = c.lead_id
