-- Does a higher decile convert better? Per audience and decile of its pool (10 = best). The rates are over the
-- audience's members (the people it targets); the same figures over every candidate of the pool are in the
-- candidate_* columns.
with by_decile as (
    select
        tenant_id,
        audience_id,
        decile,
        count(*) filter (where is_member) as members,
        count(*) filter (where is_member and converted) as member_conversions,
        count(*) as candidates,
        count(*) filter (where converted) as candidate_conversions,
        min(similarity_score) as min_similarity,
        max(similarity_score) as max_similarity
    from {{ ref('int_candidate_outcomes') }}
    group by tenant_id, audience_id, decile
),

by_audience as (
    select
        tenant_id,
        audience_id,
        count(*) filter (where is_member and converted)::numeric / nullif(count(*) filter (where is_member), 0)
            as audience_rate
    from {{ ref('int_candidate_outcomes') }}
    group by tenant_id, audience_id
)

select
    d.tenant_id,
    d.audience_id,
    a.audience_name,
    d.decile::integer as decile,
    d.members,
    d.member_conversions,
    round(d.member_conversions::numeric / nullif(d.members, 0), 6)::numeric(8, 6) as conversion_rate,
    round((d.member_conversions::numeric / nullif(d.members, 0)) / nullif(ba.audience_rate, 0), 4)::numeric(12, 4)
        as lift_vs_audience,
    round((d.member_conversions::numeric / nullif(d.members, 0)) / nullif(b.base_rate, 0), 4)::numeric(12, 4)
        as lift_vs_base,
    d.candidates,
    d.candidate_conversions,
    round(d.candidate_conversions::numeric / nullif(d.candidates, 0), 6)::numeric(8, 6) as candidate_conversion_rate,
    round(d.min_similarity::numeric, 6)::double precision as min_similarity,
    round(d.max_similarity::numeric, 6)::double precision as max_similarity
from by_decile as d
inner join by_audience as ba
    on ba.tenant_id = d.tenant_id and ba.audience_id = d.audience_id
left join {{ ref('stg_audiences') }} as a
    on a.tenant_id = d.tenant_id and a.audience_id = d.audience_id
left join {{ ref('int_tenant_base_rates') }} as b
    on b.tenant_id = d.tenant_id
