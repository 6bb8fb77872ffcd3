-- Everyone ever assigned to an arm of an audience with a holdout, and from when: the treatment arm from a lead's
-- first export in the audience (lookalike_exposure), the control arm from its first assignment to control
-- (lookalike_holdout_assignment). A lead keeps the arm of its first assignment (the earlier of the two), whatever
-- its membership became since: the population of an intention-to-treat study.
with assigned as (
    select tenant_id, audience_id, lead_id, 'treatment' as arm, first_exported_at as assigned_at
    from {{ ref('stg_exposures') }}
    union all
    select tenant_id, audience_id, lead_id, 'control' as arm, assigned_at
    from {{ ref('stg_holdout_assignments') }}
),

first_assignment as (
    select distinct on (tenant_id, audience_id, lead_id)
        tenant_id,
        audience_id,
        lead_id,
        arm,
        assigned_at
    from assigned
    order by tenant_id, audience_id, lead_id, assigned_at, arm
)

select f.*
from first_assignment as f
-- only audiences that ever held someone out have a study
where exists (
    select 1 from {{ ref('stg_holdout_assignments') }} as h
    where h.tenant_id = f.tenant_id and h.audience_id = f.audience_id
)
