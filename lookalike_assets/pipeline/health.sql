-- name: pool_sizes
-- Candidates in each audience's pool now (before audience_memberships publishes the staged one).
select audience_id, count(*) as candidates
from lookalike_candidate
where tenant_id = :tenant_id
group by audience_id;

-- name: conversion_periods
-- Per published audience and each of :periods periods of :days days ending at :as_of (period 0 = the latest):
-- the leads exported in the audience before the period ended, and those of them with a conversion within the
-- period after they were first exported.
with periods as (
    select p, (:as_of::timestamptz - make_interval(days => :days * p)) as ends
    from generate_series(0, :periods - 1) as p
)
select
    a.name,
    p.p,
    (select count(*) from lookalike_exposure as e
      where e.tenant_id = a.tenant_id and e.audience_id = a.audience_id and e.first_exported_at < p.ends) as exposed,
    (select count(distinct f.lead_id)
       from lookalike_conversion_fact as f
       join lookalike_exposure as e
         on e.tenant_id = f.tenant_id and e.audience_id = f.audience_id and e.lead_id = f.lead_id
      where f.tenant_id = a.tenant_id and f.audience_id = a.audience_id
        and f.event_type = any(:conversion_types)
        and f.occurred_at >= p.ends - make_interval(days => :days) and f.occurred_at < p.ends
        and f.occurred_at >= e.first_exported_at) as converted
from lookalike_audience as a
cross join periods as p
where a.tenant_id = :tenant_id and a.status = 'published'
order by a.name, p.p;

-- name: recent_trainings
-- The tenant's latest ranking trainings, the latest first: the challenger's holdout AUC and the champion's on the
-- same holdout.
select version, status,
       (metrics #>> '{holdout,auc}')::float8 as challenger_auc,
       (metrics #>> '{champion_on_same_holdout,auc}')::float8 as champion_auc
from lookalike_ranking_model
where tenant_id = :tenant_id
order by version desc
limit :n;

-- name: input_times^
-- When the tenant's newest lead change and newest conversion event arrived, and when it first exported a lead.
select (select max(updated_at) from leads where tenant_id = :tenant_id) as leads_changed_at,
       (select max(received_at) from lookalike_conversion where tenant_id = :tenant_id) as conversions_at,
       (select min(first_exported_at) from lookalike_exposure where tenant_id = :tenant_id) as exported_since;

-- name: record_step!
insert into lookalike_step_log (tenant_id, run_id, asset, started_at, seconds, status, error_class, row_count,
                                metrics)
values (:tenant_id, :run_id, :asset, :started_at, :seconds, :status, :error_class, :row_count, :metrics);
