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

-- name: rebuild_facts_for_day^
-- Attribute one day's events to the candidates that picked the lead (one fact per audience), replacing what
-- was there, and mark converted candidates.
with gone as (
  delete from lookalike_conversion_fact where tenant_id = :tenant_id and event_day = :day returning 1
), facts as (
  insert into lookalike_conversion_fact (tenant_id, conversion_id, audience_id, candidate_id, lead_id, event_day,
    event_type, value, occurred_at, similarity_score, decile, rank_score)
  select cv.tenant_id, cv.conversion_id, c.audience_id, c.candidate_id, cv.lead_id, :day, cv.event_type,
         cv.value, cv.occurred_at, c.similarity_score, c.decile, c.rank_score
  from lookalike_conversion cv
  join lookalike_candidate c
    on c.tenant_id = cv.tenant_id and c.lead_id = cv.lead_id
   and (cv.candidate_id is null or c.candidate_id = cv.candidate_id)
  where cv.tenant_id = :tenant_id
    and cv.occurred_at >= (:day)::date::timestamp at time zone 'UTC'
    and cv.occurred_at < ((:day)::date + 1)::timestamp at time zone 'UTC'
  on conflict (tenant_id, conversion_id, audience_id) do nothing
  returning candidate_id, event_type
), converted as (
  update lookalike_candidate c set status = 'converted'
  where c.tenant_id = :tenant_id and c.status <> 'converted'
    and c.candidate_id in (select candidate_id from facts where event_type = any(:conversion_types))
  returning 1
)
select (select count(*) from gone) as replaced, (select count(*) from facts) as facts,
       (select count(*) from converted) as converted,
       (select count(*) from lookalike_conversion cv where cv.tenant_id = :tenant_id
          and cv.occurred_at >= (:day)::date::timestamp at time zone 'UTC'
          and cv.occurred_at < ((:day)::date + 1)::timestamp at time zone 'UTC') as events;

-- name: demo_candidates_with_propensity
select l.lead_id, l.external_id, p.propensity
from leads l join demo_lead_propensity p using (tenant_id, lead_id)
where l.tenant_id = :tenant_id
  and exists (select 1 from lookalike_candidate c where c.tenant_id = l.tenant_id and c.lead_id = l.lead_id)
order by l.external_id;

-- name: conversion_days_between
-- For the change reader: which days got conversion events between two horizons.
select distinct event_day from lookalike_change_log
where entity = 'conversion' and event_day is not null and xid >= :after::xid8 and xid < :horizon::xid8
order by 1;
