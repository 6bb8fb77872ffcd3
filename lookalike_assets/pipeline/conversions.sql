-- name: resolve_event_leads
select lead_id, external_id from leads
where tenant_id = :tenant_id and (lead_id = any(:lead_ids) or external_id = any(:external_ids));

-- name: resolve_event_candidates
select candidate_id, lead_id from lookalike_candidate where tenant_id = :tenant_id and candidate_id = any(:ids);

-- name: create_conversion_stage#
create temp table conversion_stage (event_id text, lead_id uuid, candidate_id uuid, event_type text,
  value numeric(14, 2), occurred_at timestamptz, metadata jsonb) on commit drop;

-- name: copy_conversion_stage!
copy conversion_stage (event_id, lead_id, candidate_id, event_type, value, occurred_at, metadata) from stdin;

-- name: conflicting_events
-- Staged events whose id was already recorded with other content (lead, type, value, time, metadata): the same id
-- must mean the same event, so these are quarantined rather than silently dropped.
select s.event_id
from conversion_stage s
join lookalike_conversion c on c.tenant_id = :tenant_id and c.event_id = s.event_id
where (c.lead_id, c.event_type, c.value, c.occurred_at, c.metadata)
      is distinct from (s.lead_id, s.event_type, s.value, s.occurred_at, s.metadata);

-- name: drop_staged_events!
delete from conversion_stage where event_id = any(:event_ids);

-- name: merge_conversion_stage
-- Deduplicated by event id: an id seen before is not inserted again.
insert into lookalike_conversion (tenant_id, event_id, lead_id, candidate_id, event_type, value, occurred_at,
                                  metadata, source)
select :tenant_id, s.event_id, s.lead_id, s.candidate_id, s.event_type, s.value, s.occurred_at, s.metadata, :source
from conversion_stage s
on conflict (tenant_id, event_id) do nothing
returning (occurred_at at time zone 'UTC')::date as day;

-- name: quarantine_event!
insert into lookalike_conversion_quarantine (tenant_id, event_id, raw, reason, source)
values (:tenant_id, :event_id, :raw, :reason, :source);

-- name: rebuild_facts_for_days^
-- Attribute some days' events to the audiences that picked the lead (one fact per audience), replacing what was
-- there for those days, and mark converted candidates. An audience picked the lead if it is in its pool now, was
-- exported in it, or the event was attributed to it before (a lead that left a pool keeps its facts). Similarity,
-- decile and rank score are the candidate's now, else those recorded before. Days are UTC days of occurred_at.
with prior as (
  select conversion_id, audience_id, candidate_id, similarity_score, decile, rank_score
  from lookalike_conversion_fact where tenant_id = :tenant_id and event_day = any(:days::date[])
), gone as (
  delete from lookalike_conversion_fact where tenant_id = :tenant_id and event_day = any(:days::date[]) returning 1
), events as (
  select cv.* from lookalike_conversion cv
  where cv.tenant_id = :tenant_id and (cv.occurred_at at time zone 'UTC')::date = any(:days::date[])
), picked as (
  select e.conversion_id, c.audience_id from events e
  join lookalike_candidate c on c.tenant_id = e.tenant_id and c.lead_id = e.lead_id
   and (e.candidate_id is null or c.candidate_id = e.candidate_id)
  union
  select e.conversion_id, x.audience_id from events e
  join lookalike_exposure x on x.tenant_id = e.tenant_id and x.lead_id = e.lead_id
  union
  select p.conversion_id, p.audience_id from prior p
), facts as (
  insert into lookalike_conversion_fact (tenant_id, conversion_id, audience_id, candidate_id, lead_id, event_day,
    event_type, value, occurred_at, similarity_score, decile, rank_score)
  select e.tenant_id, e.conversion_id, k.audience_id, coalesce(c.candidate_id, p.candidate_id), e.lead_id,
         (e.occurred_at at time zone 'UTC')::date, e.event_type, e.value, e.occurred_at,
         coalesce(c.similarity_score, p.similarity_score), coalesce(c.decile, p.decile),
         coalesce(c.rank_score, p.rank_score)
  from picked k
  join events e on e.conversion_id = k.conversion_id
  left join lookalike_candidate c
    on c.tenant_id = e.tenant_id and c.audience_id = k.audience_id and c.lead_id = e.lead_id
  left join prior p on p.conversion_id = k.conversion_id and p.audience_id = k.audience_id
  on conflict (tenant_id, conversion_id, audience_id) do nothing
  returning candidate_id, event_type
), converted as (
  update lookalike_candidate c set status = 'converted'
  where c.tenant_id = :tenant_id and c.status <> 'converted'
    and c.candidate_id in (select candidate_id from facts where event_type = any(:conversion_types))
  returning 1
)
select (select count(*) from gone) as replaced, (select count(*) from facts) as facts,
       (select count(*) from converted) as converted, (select count(*) from events) as events;

-- name: demo_candidates_with_propensity
select l.lead_id, l.external_id, p.propensity
from leads l join demo_lead_propensity p using (tenant_id, lead_id)
where l.tenant_id = :tenant_id
  and exists (select 1 from lookalike_candidate c where c.tenant_id = l.tenant_id and c.lead_id = l.lead_id)
order by l.external_id;

-- name: demo_exposures
-- Which audience exported which lead (the simulation's treatment: the control arm is never exported).
select x.lead_id, a.name from lookalike_exposure x
join lookalike_audience a on a.tenant_id = x.tenant_id and a.audience_id = x.audience_id
where x.tenant_id = :tenant_id;

-- name: backdate_demo_assignments!
-- The demo's simulated history starts :start: its exports and holdout assignments are dated to it, so the events
-- it draws over the days since fall after them (an incrementality study counts conversions after assignment).
with x as (
  update lookalike_exposure set first_exported_at = least(first_exported_at, :start::timestamptz)
  where tenant_id = :tenant_id
  returning 1
)
update lookalike_holdout_assignment set assigned_at = least(assigned_at, :start::timestamptz)
where tenant_id = :tenant_id;

-- name: conversion_days_between
-- For the change reader: which days got conversion events between two horizons, leaving out days whose facts
-- were rebuilt after those events had committed (at or above the day's watermark).
select c.event_day, max(c.xid)::text as last_xid
from lookalike_change_log c
left join lookalike_day_watermark w on w.event_day = c.event_day
where c.entity = 'conversion' and c.event_day is not null and c.xid >= :after::xid8 and c.xid < :horizon::xid8
  and (w.horizon is null or c.xid >= w.horizon)
group by c.event_day
order by 1;
