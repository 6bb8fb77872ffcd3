-- name: pool_rows
-- One audience's pool with the lead fields rules may name.
select c.candidate_id, c.lead_id, c.similarity_score, c.rank_score, c.decile, c.status,
       l.industry, l.company, l.company_size, l.country, l.region, l.title, l.seniority, l.bio, l.property_type,
       l.email_opens, l.web_visits, l.last_activity_at, l.email, l.phone, l.attributes
from lookalike_candidate c join leads l using (tenant_id, lead_id)
where c.tenant_id = :tenant_id and c.audience_id = :audience_id;

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
create temp table members_stage (candidate_id uuid primary key) on commit drop;

-- name: copy_members_stage!
copy members_stage (candidate_id) from stdin;

-- name: merge_members_stage^
-- Replace an audience's members in one transaction, and move candidate statuses along
-- (pending/excluded -> accepted for members, pending/accepted -> excluded for the rest of the pool).
with gone as (
  delete from lookalike_audience_member m
  where m.tenant_id = :tenant_id and m.audience_id = :audience_id
    and not exists (select 1 from members_stage s where s.candidate_id = m.candidate_id)
  returning 1
), added as (
  insert into lookalike_audience_member (tenant_id, audience_id, candidate_id)
  select :tenant_id, :audience_id, s.candidate_id from members_stage s
  on conflict do nothing
  returning 1
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
select (select count(*) from added) as added, (select count(*) from gone) as removed,
       (select count(*) from members_stage) as size;

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
