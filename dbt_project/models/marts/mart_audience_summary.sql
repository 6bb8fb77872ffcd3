-- One row per audience: size, seeds, embedding coverage, last refresh, conversions, last export.
with members as (
    select tenant_id, audience_id, count(*) as members
    from {{ ref('stg_audience_members') }}
    group by tenant_id, audience_id
),

outcomes as (
    select
        tenant_id,
        audience_id,
        count(*) as candidates,
        count(*) filter (where converted) as candidate_conversions,
        count(*) filter (where is_member and converted) as member_conversions,
        sum(conversion_value) as conversion_value
    from {{ ref('int_candidate_outcomes') }}
    group by tenant_id, audience_id
),

seeds as (
    select a.tenant_id, a.audience_id, count(s.seed_id) as seeds
    from {{ ref('stg_audiences') }} as a
    inner join {{ ref('stg_seeds') }} as s
        on s.tenant_id = a.tenant_id
       and s.is_live
       and (not (a.seed_set ? 'labels') or a.seed_set -> 'labels' ? s.label)
       and (not (a.seed_set ? 'seed_ids') or a.seed_set -> 'seed_ids' ? s.seed_id::text)
    group by a.tenant_id, a.audience_id
),

exports as (
    select distinct on (tenant_id, audience_id)
        tenant_id, audience_id, status as last_export_status, finished_at as last_export_at
    from {{ ref('stg_export_jobs') }}
    order by tenant_id, audience_id, started_at desc
)

select
    a.tenant_id,
    a.audience_id,
    a.audience_name,
    a.status,
    coalesce(m.members, 0) as members,
    coalesce(o.candidates, 0) as candidates,
    coalesce(s.seeds, 0) as seeds,
    cov.coverage::numeric(6, 4) as embedding_coverage,
    a.last_membership_refresh_at as last_refresh_at,
    coalesce(o.member_conversions, 0) as conversions,
    round(o.member_conversions::numeric / nullif(m.members, 0), 6)::numeric(8, 6) as conversion_rate,
    coalesce(o.candidate_conversions, 0) as candidate_conversions,
    round(o.candidate_conversions::numeric / nullif(o.candidates, 0), 6)::numeric(8, 6) as candidate_conversion_rate,
    round(b.base_rate, 6)::numeric(8, 6) as tenant_base_rate,
    coalesce(o.conversion_value, 0)::numeric(16, 2) as conversion_value,
    e.last_export_status,
    e.last_export_at
from {{ ref('stg_audiences') }} as a
left join members as m on m.tenant_id = a.tenant_id and m.audience_id = a.audience_id
left join outcomes as o on o.tenant_id = a.tenant_id and o.audience_id = a.audience_id
left join seeds as s on s.tenant_id = a.tenant_id and s.audience_id = a.audience_id
left join exports as e on e.tenant_id = a.tenant_id and e.audience_id = a.audience_id
left join {{ ref('mart_embedding_coverage') }} as cov on cov.tenant_id = a.tenant_id
left join {{ ref('int_tenant_base_rates') }} as b on b.tenant_id = a.tenant_id
