-- name: pool_rows
-- One audience's next pool with the lead fields rules may name: the staged pool when the pool step left one,
-- else its current candidates. Statuses are the current candidates' (pending for a lead new to the pool).
with staged as (
  select lead_id, similarity_score, rank_score, decile from lookalike_pool_stage
  where tenant_id = :tenant_id and audience_id = :audience_id
), pool as (
  select lead_id, similarity_score, rank_score, decile from staged
  union all
  select lead_id, similarity_score, rank_score, decile from lookalike_candidate
  where tenant_id = :tenant_id and audience_id = :audience_id and not exists (select 1 from staged)
)
select p.lead_id, p.similarity_score, p.rank_score, p.decile, coalesce(c.status, 'pending') as status,
       l.industry, l.company, l.company_size, l.country, l.region, l.title, l.seniority, l.bio, l.property_type,
       l.email_opens, l.web_visits, l.last_activity_at, l.email, l.phone, l.attributes
from pool p
join leads l on l.tenant_id = :tenant_id and l.lead_id = p.lead_id
left join lookalike_candidate c on c.tenant_id = :tenant_id and c.audience_id = :audience_id and c.lead_id = p.lead_id
order by p.lead_id;

-- name: merge_staged_pool^
-- Publish a staged pool as the audience's candidates (inside the membership transaction): candidate ids and
-- statuses of leads that stay are kept, leads that left the pool go (their conversion facts and export history
-- live elsewhere), and the stage is cleared. Without a stage, nothing changes.
with staged as (
  select * from lookalike_pool_stage where tenant_id = :tenant_id and audience_id = :audience_id
), up as (
  insert into lookalike_candidate as c (tenant_id, audience_id, lead_id, similarity_score, rank_score, decile,
                                        reasons)
  select :tenant_id, :audience_id, s.lead_id, s.similarity_score, s.rank_score, s.decile, s.reasons from staged s
  on conflict (tenant_id, audience_id, lead_id) do update set
    similarity_score = excluded.similarity_score, rank_score = excluded.rank_score, decile = excluded.decile,
    reasons = excluded.reasons
  where (c.similarity_score, c.rank_score, c.decile, c.reasons) is distinct from
        (excluded.similarity_score, excluded.rank_score, excluded.decile, excluded.reasons)
  returning (xmax = 0) as inserted
), gone as (
  delete from lookalike_candidate c
  where c.tenant_id = :tenant_id and c.audience_id = :audience_id and exists (select 1 from staged)
    and not exists (select 1 from staged s where s.lead_id = c.lead_id)
  returning 1
), cleared as (
  delete from lookalike_pool_stage where tenant_id = :tenant_id and audience_id = :audience_id returning 1
)
select (select count(*) from up where inserted) as inserted,
       (select count(*) from up where not inserted) as updated,
       (select count(*) from gone) as removed,
       (select count(*) from cleared) as staged;

-- name: live_seed_lead_ids
select distinct lead_id from lookalike_seed where tenant_id = :tenant_id and deleted_at is null;

-- name: customer_lead_ids
-- Existing customers: a live 'won' seed or a closed deal.
select lead_id from lookalike_seed where tenant_id = :tenant_id and deleted_at is null and label = 'won'
union
select lead_id from lookalike_conversion where tenant_id = :tenant_id and event_type = 'deal_closed';

-- name: member_lead_ids
select m.audience_id, c.lead_id
from lookalike_audience_member m
join lookalike_candidate c on c.tenant_id = m.tenant_id and c.candidate_id = m.candidate_id
where m.tenant_id = :tenant_id;

-- name: eligible_lead_count$
-- Leads that can be in an audience at all: embedded ones.
select count(*) from lead_embeddings where tenant_id = :tenant_id;

-- name: attribute_keys
-- Names of imported columns (a bounded sample of leads).
select distinct k from (select jsonb_object_keys(attributes) as k from leads where tenant_id = :tenant_id
                        limit 200000) s order by 1;

-- name: create_members_stage#
create temp table members_stage (lead_id uuid primary key, candidate_id uuid,
                                 arm text not null default 'treatment') on commit drop;

-- name: copy_members_stage!
copy members_stage (lead_id, arm) from stdin;

-- name: resolve_members_stage!
-- Members are chosen by lead; the candidate rows (just merged from the stage) give their candidate ids.
update members_stage s set candidate_id = c.candidate_id
from lookalike_candidate c
where c.tenant_id = :tenant_id and c.audience_id = :audience_id and c.lead_id = s.lead_id;

-- name: merge_members_stage^
-- Replace an audience's members in one transaction, and move candidate statuses along
-- (pending/excluded -> accepted for members, pending/accepted -> excluded for the rest of the pool).
with gone as (
  delete from lookalike_audience_member m
  where m.tenant_id = :tenant_id and m.audience_id = :audience_id
    and not exists (select 1 from members_stage s where s.candidate_id = m.candidate_id)
  returning 1
), added as (
  -- a member's arm only changes when the audience's holdout percentage did (domain/holdout.py)
  insert into lookalike_audience_member as m (tenant_id, audience_id, candidate_id, arm)
  select :tenant_id, :audience_id, s.candidate_id, s.arm from members_stage s where s.candidate_id is not null
  on conflict (tenant_id, audience_id, candidate_id) do update set arm = excluded.arm
  where m.arm is distinct from excluded.arm
  returning (xmax = 0) as inserted
), accepted as (
  update lookalike_candidate c set status = 'accepted'
  where c.tenant_id = :tenant_id and c.audience_id = :audience_id and c.status in ('pending', 'excluded')
    and exists (select 1 from members_stage s where s.candidate_id = c.candidate_id)
  returning 1
), excluded as (
  update lookalike_candidate c set status = 'excluded'
  where c.tenant_id = :tenant_id and c.audience_id = :audience_id and c.status in ('pending', 'accepted')
    and not exists (select 1 from members_stage s where s.candidate_id = c.candidate_id)
  returning 1
)
select (select count(*) from added where inserted) as added, (select count(*) from gone) as removed,
       (select count(*) from members_stage) as size,
       (select count(*) from members_stage where arm = 'control') as control,
       (select count(*) from added where not inserted) as arm_changes;

-- name: record_holdout_assignments!
-- The control arm's first assignments (kept whatever the members become: the incrementality study's population).
insert into lookalike_holdout_assignment (tenant_id, audience_id, lead_id)
select :tenant_id, :audience_id, s.lead_id from members_stage s
where s.arm = 'control' and s.candidate_id is not null
on conflict (tenant_id, audience_id, lead_id) do nothing;

-- name: update_audience_after_membership!
update lookalike_audience
set size_estimate = :size,
    status = case when status = 'draft' and :auto_publish then 'published' else status end,
    metadata = metadata || jsonb_build_object('membership', :stats::jsonb)
where tenant_id = :tenant_id and audience_id = :audience_id;

-- name: record_membership_skip!
update lookalike_audience
set metadata = metadata || jsonb_build_object('membership',
      coalesce(metadata->'membership', '{}'::jsonb) || jsonb_build_object('skipped', :reason::text,
                                                                          'skipped_at', now()))
where tenant_id = :tenant_id and audience_id = :audience_id;
