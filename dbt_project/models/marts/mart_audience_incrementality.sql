-- Did targeting the audience cause conversions? Per audience with a holdout, and per period: the treatment arm
-- (exported) against the control arm (held out of every export, chosen by a stable hash), their conversion rates,
-- the absolute and relative lift, and a 95 % confidence interval of the absolute lift (two proportions, normal
-- approximation: lift +/- 1.96 * sqrt(pt (1 - pt) / nt + pc (1 - pc) / nc)).
-- Intention to treat: the study population is everyone ever assigned to an arm (int_arm_assignments: treatment
-- from its first export, control from its first assignment), whatever its membership became since (a converter
-- excluded as a customer, a lead the pool moved past, a suppressed person stay in their arm). A lead counts as
-- converted when it has a conversion event after its assignment, within the study window (var
-- incrementality_window_days), in the period of its first such conversion ('all': at any time in the window).
with members as (
    select
        a.tenant_id,
        a.audience_id,
        a.arm,
        min(c.occurred_at) is not null as converted,
        min(c.occurred_at) as first_converted_at
    from {{ ref('int_arm_assignments') }} as a
    left join {{ ref('stg_conversions') }} as c
        on c.tenant_id = a.tenant_id and c.lead_id = a.lead_id and c.is_conversion
        and c.occurred_at >= a.assigned_at
        and c.occurred_at < a.assigned_at + make_interval(days => {{ var('incrementality_window_days') }})
    group by a.tenant_id, a.audience_id, a.lead_id, a.arm
),

arms as (
    select
        tenant_id,
        audience_id,
        count(*) filter (where arm = 'treatment') as treatment_members,
        count(*) filter (where arm = 'control') as control_members
    from members
    group by tenant_id, audience_id
    having count(*) filter (where arm = 'control') > 0
),

periods as (
    select distinct
        tenant_id,
        audience_id,
        to_char(date_trunc('month', first_converted_at at time zone 'UTC'), 'YYYY-MM') as period,
        date_trunc('month', first_converted_at at time zone 'UTC')::date as period_start
    from members
    where converted
    union all
    select
        tenant_id,
        audience_id,
        'all' as period,
        null::date as period_start
    from arms
),

counts as (
    select
        p.tenant_id,
        p.audience_id,
        p.period,
        p.period_start,
        count(*) filter (
            where m.arm = 'treatment' and m.converted
            and (p.period = 'all' or date_trunc('month', m.first_converted_at at time zone 'UTC')::date = p.period_start)
        ) as treatment_conversions,
        count(*) filter (
            where m.arm = 'control' and m.converted
            and (p.period = 'all' or date_trunc('month', m.first_converted_at at time zone 'UTC')::date = p.period_start)
        ) as control_conversions
    from periods as p
    inner join members as m on m.tenant_id = p.tenant_id and m.audience_id = p.audience_id
    group by p.tenant_id, p.audience_id, p.period, p.period_start
),

rates as (
    select
        c.*,
        a.treatment_members,
        a.control_members,
        c.treatment_conversions::numeric / a.treatment_members as pt,
        c.control_conversions::numeric / a.control_members as pc
    from counts as c
    inner join arms as a on a.tenant_id = c.tenant_id and a.audience_id = c.audience_id
    where a.treatment_members > 0
),

stats as (
    select
        *,
        pt - pc as lift,
        sqrt(pt * (1 - pt) / treatment_members + pc * (1 - pc) / control_members) as se
    from rates
)

select
    s.tenant_id,
    s.audience_id,
    au.audience_name,
    s.period,
    s.period_start,
    au.holdout_percent::numeric(5, 2) as holdout_percent,
    s.treatment_members,
    s.control_members,
    s.treatment_conversions,
    s.control_conversions,
    round(s.pt, 6)::numeric(8, 6) as treatment_rate,
    round(s.pc, 6)::numeric(8, 6) as control_rate,
    round(s.lift, 6)::numeric(9, 6) as absolute_lift,
    round(s.lift / nullif(s.pc, 0), 4)::numeric(12, 4) as relative_lift,
    round(s.lift - 1.96 * s.se, 6)::numeric(9, 6) as ci_low,
    round(s.lift + 1.96 * s.se, 6)::numeric(9, 6) as ci_high,
    round(s.lift / nullif(s.se, 0), 3)::numeric(10, 3) as z_score,
    (s.se > 0 and abs(s.lift) > 1.96 * s.se) as significant
from stats as s
inner join {{ ref('stg_audiences') }} as au on au.tenant_id = s.tenant_id and au.audience_id = s.audience_id
