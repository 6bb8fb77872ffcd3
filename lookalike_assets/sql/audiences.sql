-- name: active_audiences
select audience_id, name, seed_set, rules, metadata, status
from lookalike_audience where tenant_id = :tenant_id and status <> 'retired' order by name;

-- name: upsert_profile!
insert into lookalike_seed_profile (tenant_id, audience_id, profile, seed_count, weight_total, seed_hash, model_version)
values (:tenant_id, :audience_id, :profile, :seed_count, :weight_total, :seed_hash, :model_version)
on conflict (tenant_id, audience_id) do update set
  profile = excluded.profile, seed_count = excluded.seed_count, weight_total = excluded.weight_total,
  seed_hash = excluded.seed_hash, model_version = excluded.model_version, computed_at = now()
where lookalike_seed_profile.seed_hash <> excluded.seed_hash
   or lookalike_seed_profile.model_version <> excluded.model_version;

-- name: profiles
select p.audience_id, a.name, p.profile, p.seed_count, p.model_version, a.metadata
from lookalike_seed_profile p join lookalike_audience a using (tenant_id, audience_id)
where p.tenant_id = :tenant_id and a.status <> 'retired' order by a.name;

-- name: suppressed_lead_ids
-- Leads suppressed by id or by the SHA-256 of their normalized email.
select s.lead_id from suppression_list s where s.tenant_id = :tenant_id and s.lead_id is not null
union
select l.lead_id from leads l
join suppression_list s on s.tenant_id = l.tenant_id
 and s.email_sha256 = encode(sha256(convert_to(lower(btrim(l.email)), 'UTF8')), 'hex')
where l.tenant_id = :tenant_id and l.email is not null;

-- name: create_pool_stage#
create temp table pool_stage (lead_id uuid, similarity_score real, reasons jsonb) on commit drop;

-- name: copy_pool_stage!
copy pool_stage (lead_id, similarity_score, reasons) from stdin;

-- name: merge_pool_stage^
-- Replace one audience's pool with the staged rows in one transaction: candidate ids and statuses of leads
-- that stay are kept; leads that left the pool go, except converted ones (feedback history).
with ranked as (
  select s.lead_id, s.similarity_score, s.reasons,
         ntile(10) over (order by s.similarity_score, s.lead_id) as decile
  from pool_stage s
), up as (
  insert into lookalike_candidate as c (tenant_id, audience_id, lead_id, similarity_score, decile, reasons)
  select :tenant_id, :audience_id, r.lead_id, r.similarity_score, r.decile, r.reasons from ranked r
  on conflict (tenant_id, audience_id, lead_id) do update set
    similarity_score = excluded.similarity_score, decile = excluded.decile, reasons = excluded.reasons
  where (c.similarity_score, c.decile, c.reasons) is distinct from
        (excluded.similarity_score, excluded.decile, excluded.reasons)
  returning (xmax = 0) as inserted
), gone as (
  delete from lookalike_candidate c
  where c.tenant_id = :tenant_id and c.audience_id = :audience_id and c.status <> 'converted'
    and not exists (select 1 from pool_stage s where s.lead_id = c.lead_id)
  returning 1
)
select (select count(*) from up where inserted) as inserted,
       (select count(*) from up where not inserted) as updated,
       (select count(*) from gone) as removed;

-- name: pool_preview
select l.external_id, l.title, l.industry, c.similarity_score, c.decile, c.reasons
from lookalike_candidate c join leads l using (tenant_id, lead_id)
where c.tenant_id = :tenant_id and c.audience_id = :audience_id
order by c.similarity_score desc limit :n;

-- name: demo_seed!
insert into lookalike_seed (tenant_id, seed_id, lead_id, label, source)
values (:tenant_id, :seed_id, :lead_id, :label, 'demo')
on conflict (tenant_id, seed_id) do nothing;

-- name: demo_audience!
insert into lookalike_audience (tenant_id, audience_id, name, seed_set, rules, metadata)
values (:tenant_id, :audience_id, :name, :seed_set, :rules, :metadata)
on conflict (tenant_id, audience_id) do update set
  seed_set = excluded.seed_set, rules = excluded.rules,
  metadata = lookalike_audience.metadata || excluded.metadata;

-- name: retire_other_demo_seeds!
-- A re-run of the demo with other parameters soft-deletes the demo seeds it no longer picks.
update lookalike_seed set deleted_at = now()
where tenant_id = :tenant_id and source = 'demo' and deleted_at is null and seed_id <> all(:seed_ids);
