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

-- name: scored_lead_count$
-- Leads the champion scored (0 when the tenant has no ranking model), leaving out some.
select count(*) from lookalike_lead_score where tenant_id = :tenant_id and lead_id <> all(:exclude::uuid[]);

-- name: top_scored_leads
-- The top :n leads by the champion's score, leaving out some (seeds, suppressed).
select lead_id, score from lookalike_lead_score
where tenant_id = :tenant_id and lead_id <> all(:exclude::uuid[])
order by score desc, lead_id
limit :n;

-- name: clear_pool_stage!
delete from lookalike_pool_stage where tenant_id = :tenant_id and audience_id = :audience_id;

-- name: create_pool_copy#
create temp table pool_copy (lead_id uuid, similarity_score real, rank_score real, decile smallint,
                             reasons jsonb) on commit drop;

-- name: copy_pool_copy!
copy pool_copy (lead_id, similarity_score, rank_score, decile, reasons) from stdin;

-- name: stage_pool!
insert into lookalike_pool_stage (tenant_id, audience_id, lead_id, similarity_score, rank_score, decile, reasons,
                                  run_id)
select :tenant_id, :audience_id, lead_id, similarity_score, rank_score, decile, reasons, :run_id from pool_copy;

-- name: staged_pool_preview
select l.external_id, l.title, l.industry, s.rank_score, s.similarity_score, s.decile, s.reasons
from lookalike_pool_stage s join leads l using (tenant_id, lead_id)
where s.tenant_id = :tenant_id and s.audience_id = :audience_id
order by coalesce(s.rank_score, s.similarity_score) desc, s.lead_id limit :n;

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
