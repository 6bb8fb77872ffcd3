-- Destinations of a tenant and their syncs. The sealed credentials are read by one query only
-- (destination_sealed), on the pipeline's login: the others never name the column.

-- name: insert_destination^
insert into lookalike_destination (tenant_id, destination_id, name, platform, options, sealed)
values (:tenant_id, :destination_id, :name, :platform, :options, :sealed)
returning destination_id;

-- name: list_destinations
select d.destination_id, d.name, d.platform, d.options, d.status, d.failures, d.paused_reason, d.created_at,
       s.status as last_status, s.finished_at as last_finished_at, s.added as last_added, s.removed as last_removed,
       s.error as last_error
from lookalike_destination d
left join lateral (select * from lookalike_destination_sync s
                   where s.tenant_id = d.tenant_id and s.destination_id = d.destination_id
                   order by s.started_at desc limit 1) s on true
where d.tenant_id = :tenant_id
order by lower(d.name);

-- name: find_destination^
select destination_id, name, platform, options, status, failures, paused_reason
from lookalike_destination
where tenant_id = :tenant_id and (name = :ref or destination_id = :ref_id::uuid);

-- name: destination_sealed$
select sealed from lookalike_destination where tenant_id = :tenant_id and destination_id = :destination_id;

-- name: update_destination^
update lookalike_destination set
  name = coalesce(:name, name),
  options = coalesce(:options, options),
  status = coalesce(:status, status),
  failures = case when :status::text = 'active' then 0 else failures end,
  paused_reason = case when :status::text = 'active' then null else paused_reason end
where tenant_id = :tenant_id and destination_id = :destination_id
returning destination_id, name;

-- name: reseal!
-- New credentials (written without reading the old ones: the application's login cannot read the column).
update lookalike_destination set sealed = :sealed where tenant_id = :tenant_id and destination_id = :destination_id;

-- name: delete_destination$
with gone as (delete from lookalike_destination where tenant_id = :tenant_id and destination_id = :destination_id
              returning 1)
select count(*) from gone;

-- name: record_outcome^
-- After a sync: a success clears the failures; a failure counts, and pauses the destination at :pause_after.
update lookalike_destination set
  failures = case when :failed then failures + 1 else 0 end,
  status = case when :failed and failures + 1 >= :pause_after then 'paused' else status end,
  paused_reason = case when :failed and failures + 1 >= :pause_after then :reason else paused_reason end
where tenant_id = :tenant_id and destination_id = :destination_id
returning status, failures;

-- name: sync_members
-- The members a destination receives: the treatment arm (the holdout's control is never sent), with the
-- identifiers the platforms match on (never logged).
select l.external_id, l.email, l.phone, l.first_name, l.last_name, l.country
from lookalike_audience_member m
join lookalike_candidate c on c.tenant_id = m.tenant_id and c.candidate_id = m.candidate_id
join leads l on l.tenant_id = c.tenant_id and l.lead_id = c.lead_id
where m.tenant_id = :tenant_id and m.audience_id = :audience_id and m.arm = 'treatment';

-- name: destination_audience$
select external_id from lookalike_destination_audience
where tenant_id = :tenant_id and destination_id = :destination_id and audience_id = :audience_id;

-- name: insert_destination_audience!
insert into lookalike_destination_audience (tenant_id, destination_id, audience_id, external_id)
values (:tenant_id, :destination_id, :audience_id, :external_id);

-- name: member_keys
select member_key from lookalike_destination_member
where tenant_id = :tenant_id and destination_id = :destination_id and audience_id = :audience_id;

-- name: add_member_keys!
insert into lookalike_destination_member (tenant_id, destination_id, audience_id, member_key)
select :tenant_id, :destination_id, :audience_id, k from unnest(:keys::text[]) k
on conflict do nothing;

-- name: remove_member_keys!
delete from lookalike_destination_member
where tenant_id = :tenant_id and destination_id = :destination_id and audience_id = :audience_id
  and member_key = any(:keys::text[]);

-- name: start_sync$
insert into lookalike_destination_sync (tenant_id, destination_id, audience_id, run_id)
values (:tenant_id, :destination_id, :audience_id, :run_id)
returning sync_id;

-- name: sync_batch!
update lookalike_destination_sync set
  added = added + :added, removed = removed + :removed, batches = batches + 1, attempts = attempts + :attempts,
  received = case when :received::int is null then received else coalesce(received, 0) + :received end,
  invalid = case when :invalid::int is null then invalid else coalesce(invalid, 0) + :invalid end
where tenant_id = :tenant_id and sync_id = :sync_id;

-- name: finish_sync!
update lookalike_destination_sync set status = :status, error = :error, report = report || :report,
  attempts = attempts + :attempts, finished_at = now()
where tenant_id = :tenant_id and sync_id = :sync_id;

-- name: audience_syncs
-- The last syncs of one audience, with the destination's name.
select d.name as destination, d.platform, s.status, s.added, s.removed, s.batches, s.received, s.invalid,
       s.report, s.error, s.started_at, s.finished_at,
       (select external_id from lookalike_destination_audience x
        where x.tenant_id = s.tenant_id and x.destination_id = s.destination_id and x.audience_id = s.audience_id)
         as external_id
from lookalike_destination_sync s
join lookalike_destination d on d.tenant_id = s.tenant_id and d.destination_id = s.destination_id
where s.tenant_id = :tenant_id and s.audience_id = :audience_id
order by s.started_at desc
limit :n;
