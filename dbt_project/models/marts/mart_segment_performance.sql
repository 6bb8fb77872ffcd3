-- One row per segment of a published audience: its size and profile, and how its members converted against the
-- audience as a whole.
with members as (
    select
        sm.tenant_id,
        sm.audience_id,
        sm.segment_no,
        count(*) as members,
        count(*) filter (where o.converted) as conversions,
        sum(o.conversion_value) as conversion_value,
        avg(o.similarity_score) as mean_similarity
    from {{ ref('stg_segment_members') }} as sm
    inner join {{ ref('int_candidate_outcomes') }} as o
        on o.tenant_id = sm.tenant_id and o.candidate_id = sm.candidate_id
    group by sm.tenant_id, sm.audience_id, sm.segment_no
),

audience as (
    select
        tenant_id,
        audience_id,
        count(*) filter (where is_member) as members,
        count(*) filter (where is_member and converted) as conversions
    from {{ ref('int_candidate_outcomes') }}
    group by tenant_id, audience_id
)

select
    s.tenant_id,
    s.audience_id,
    a.audience_name,
    s.segment_no::integer as segment_no,
    s.segment_name,
    s.size::bigint as size,
    s.share::numeric(6, 4) as share,
    coalesce(m.members, 0) as members,
    coalesce(m.conversions, 0) as conversions,
    round(m.conversions::numeric / nullif(m.members, 0), 6)::numeric(8, 6) as conversion_rate,
    round(au.conversions::numeric / nullif(au.members, 0), 6)::numeric(8, 6) as audience_conversion_rate,
    round(
        (m.conversions::numeric / nullif(m.members, 0)) / nullif(au.conversions::numeric / nullif(au.members, 0), 0), 4
    )::numeric(12, 4) as lift_vs_audience,
    coalesce(m.conversion_value, 0)::numeric(16, 2) as conversion_value,
    s.mean_similarity::double precision as mean_similarity,
    s.mean_rank_score::double precision as mean_rank_score,
    s.traits,
    s.computed_at
from {{ ref('stg_segments') }} as s
inner join {{ ref('stg_audiences') }} as a on a.tenant_id = s.tenant_id and a.audience_id = s.audience_id
left join members as m
    on m.tenant_id = s.tenant_id and m.audience_id = s.audience_id and m.segment_no = s.segment_no
left join audience as au on au.tenant_id = s.tenant_id and au.audience_id = s.audience_id
