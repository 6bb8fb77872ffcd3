-- Reach vs. precision: at each threshold of the score the audience is cut by (the ranking model's score, else
-- similarity), how large the audience would be and how well it converts.
with outcomes as (
    select tenant_id, audience_id, score::double precision as score, converted
    from {{ ref('int_candidate_outcomes') }}
),

bounds as (
    select tenant_id, audience_id, min(score) as lo, max(score) as hi
    from outcomes
    group by tenant_id, audience_id
),

thresholds as (
    select
        b.tenant_id,
        b.audience_id,
        k as point,
        b.hi - (b.hi - b.lo) * k / {{ var('reach_curve_points') }}::double precision as threshold
    from bounds as b
    cross join generate_series(0, {{ var('reach_curve_points') }}) as k
)

select
    t.tenant_id,
    t.audience_id,
    t.point::integer as point,
    round(t.threshold::numeric, 6)::double precision as threshold,
    count(o.score) as audience_size,
    count(*) filter (where o.converted) as conversions,
    round((count(*) filter (where o.converted))::numeric / nullif(count(o.score), 0), 6)::numeric(8, 6)
        as conversion_rate
from thresholds as t
left join outcomes as o
    on o.tenant_id = t.tenant_id
   and o.audience_id = t.audience_id
   and o.score >= t.threshold - 1e-9
group by t.tenant_id, t.audience_id, t.point, t.threshold
